import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { streamFromHere } from '../support/binlog.js';
import { sleep } from '../support/fault-run.js';
import { freePort } from '../support/ports.js';
import { SdlProcess, sdlEnv, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Machine {
  state: string | null;
  attempt: number;
  retries: number;
  lastError: { code: string; errorClass: string; message: string } | null;
}
interface Shown {
  source: 'instance' | 'mongodb';
  pipeline: string;
  instance?: string;
  url?: string;
  ready?: boolean;
  degraded?: string[];
  machines?: Record<string, Machine>;
  lastError?: { machine: string; code: string; errorClass: string; attempt: number; retries: number } | null;
  rowsCommitted?: number;
  lagSeconds?: number | null;
  writeConcern?: { w: unknown; j?: unknown } | null;
  lease?: { thisInstance: boolean; holder: string | null; term: number | null } | { owner: string; term: number; expiresAt: string } | null;
  stored?: { checkpoint: { gtid: string | null } | null; pendingBatches: number; deadLetters: number } | null;
  storedError?: string | null;
  checkpoint?: { gtid: string | null } | null;
  pendingBatches?: number;
  deadLetters?: number;
}

/** `sdl status` as an operator runs it, with the same configuration as the instance. */
function status(stack: Stack, env: Record<string, string>, json: boolean): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'status', ...(json ? ['--json'] : [])], { env: sdlEnv(stack, env) }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, out: stdout + stderr });
    });
  });
}

async function shown(stack: Stack, env: Record<string, string>): Promise<Shown> {
  const { code, out } = await status(stack, env, true);
  assert.equal(code, 0, out);
  return JSON.parse(out) as Shown;
}

describe('sdl status: from the running instance, else from MongoDB', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('asks the running instance (machines, rates, lease, write concern), shows its last error while MongoDB is down, and reads MongoDB once it is stopped', async (t) => {
    const conn = await stack.mariadb.connect();
    const port = await freePort();
    const env = { SDL_PIPELINE: 'st', SDL_INCLUDE: 'st', SDL_HTTP_ADDR: `127.0.0.1:${port}` };
    try {
      await conn.query('CREATE DATABASE st; CREATE TABLE st.t (id INT PRIMARY KEY, v VARCHAR(20))');
      await streamFromHere(stack, 'st');
      const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'st', include: 'st', env });
      sdl.start();
      await sdl.leaseAcquired();
      for (let i = 0; i < 50; i++) await conn.query('INSERT INTO st.t VALUES (?, ?)', [i, `v${i}`]);
      await waitForCatchUp(stack, 'st', 60_000, sdl);

      const live = await shown(stack, env);
      assert.equal(live.source, 'instance');
      assert.equal(live.url, `http://127.0.0.1:${port}/status`);
      assert.equal(live.pipeline, 'st');
      assert.equal(live.ready, true);
      assert.match(live.machines?.['supervisor']?.state ?? '', /running\.healthy/);
      assert.match(live.machines?.['reader']?.state ?? '', /streaming/);
      assert.ok((live.rowsCommitted ?? 0) >= 50, JSON.stringify(live));
      assert.equal(typeof live.lagSeconds, 'number');
      assert.deepEqual(live.writeConcern, { w: 'majority', j: true });
      assert.ok(live.lease !== null && 'thisInstance' in (live.lease ?? {}) && (live.lease as { thisInstance: boolean }).thisInstance);
      assert.equal(live.lastError, null);
      assert.ok(live.stored?.checkpoint?.gtid !== undefined && live.stored.checkpoint !== null, JSON.stringify(live.stored));
      assert.equal(live.stored.pendingBatches, 0);
      const human = await status(stack, env, false);
      assert.match(human.out, new RegExp(`^pipeline st: from the running instance at http://127\\.0\\.0\\.1:${port}/status`));
      assert.match(human.out, /\nlease +held by this instance/);
      assert.match(human.out, /\nwrite concern +\{ w: "majority", j: true \}/);
      t.diagnostic(human.out);

      if (stack.mongo.controllable) {
        // MongoDB away: the instance still answers, with the committer's error, its class and retries.
        await stack.mongo.stop();
        try {
          await conn.query("INSERT INTO st.t VALUES (1000, 'during')");
          let during: Shown | undefined;
          const deadline = Date.now() + 60_000;
          for (;;) {
            during = await shown(stack, env);
            if ((during.lastError?.retries ?? 0) >= 2 && during.lastError?.attempt !== 0) break;
            assert.ok(Date.now() < deadline, `no retried error shown: ${JSON.stringify(during)}`);
            await sleep(500);
          }
          assert.equal(during.source, 'instance');
          assert.equal(during.ready, false);
          assert.equal(during.lastError?.machine, 'committer');
          assert.equal(during.lastError?.errorClass, 'transient');
          assert.match(during.machines?.['committer']?.state ?? '', /backoff/);
          assert.deepEqual(during.degraded, ['committer']);
          assert.equal(during.stored, null);
          assert.match(during.storedError ?? '', /.+/);
          const text = await status(stack, env, false);
          assert.match(text.out, /\nlast error +committer: \S+ \(transient\) .*retrying, attempt \d+; \d+ retries since start/);
          assert.match(text.out, /\nMongoDB +did not answer: /);
          t.diagnostic(text.out);
          // Nothing commits while MongoDB is away: the lag grows with the clock, not frozen at the last commit's.
          const lagBefore = during.lagSeconds ?? 0;
          await sleep(3000);
          const later = await shown(stack, env);
          assert.ok((later.lagSeconds ?? 0) >= lagBefore + 2.5, `lag ${lagBefore} s, then ${String(later.lagSeconds)} s three seconds later`);
        } finally {
          await stack.mongo.start();
        }
        await waitForCatchUp(stack, 'st', 120_000, sdl);
      } else {
        t.diagnostic('SDL_TEST_MONGO_URL: the MongoDB outage part is skipped (the harness cannot stop that server)');
      }
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-2000));

      const stored = await shown(stack, env);
      assert.equal(stored.source, 'mongodb');
      assert.match(stored.instance ?? '', new RegExp(`^no sdl instance answered at http://127\\.0\\.0\\.1:${port}/status \\(ECONNREFUSED\\)`));
      assert.ok(stored.stored?.checkpoint !== null && stored.stored?.checkpoint !== undefined && stored.stored.checkpoint.gtid !== null, JSON.stringify(stored));
      assert.equal(stored.stored.pendingBatches, 0);
      assert.equal(stored.stored.deadLetters, 0);
      const text = await status(stack, env, false);
      assert.match(text.out, /^pipeline st: from MongoDB; no sdl instance answered at /);
      assert.match(text.out, /\ncheckpoint +GTID \S+, /);
      assert.match(text.out, /\nlease +\S+, term \d+, released at its stop/);
      t.diagnostic(text.out);
      // http.addr off: nothing to ask, and it says so.
      const off = await shown(stack, { ...env, SDL_HTTP_ADDR: 'off' });
      assert.equal(off.source, 'mongodb');
      assert.match(off.instance ?? '', /http\.addr is off/);
    } finally {
      await conn.end();
    }
  });
});
