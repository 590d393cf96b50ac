import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { streamWholeBinlog } from '../support/binlog.js';
import { assertLossless, shopWorkload, sleep } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { BackgroundWorkload } from '../support/workload.js';

const acquired = (p: SdlProcess): Record<string, unknown> | undefined => p.lines().find((l) => l['msg'] === 'lease acquired: this instance writes the pipeline');

describe('single writer', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('two instances started at once: one writes, the other waits; kill -9 the writer and the standby takes over', async () => {
    const { conn, workload } = await shopWorkload(stack, 61);
    const env = { SDL_LEASE_TTL_MS: '3000' };
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'lease');
    const a = new SdlProcess(stack.scratch, stack, { pipeline: 'lease', include: 'shop', name: 'lease-a', env });
    const b = new SdlProcess(stack.scratch, stack, { pipeline: 'lease', include: 'shop', name: 'lease-b', env });
    a.start();
    b.start();
    const bg = new BackgroundWorkload(workload, 5);
    const deadline = Date.now() + 60_000;
    while (acquired(a) === undefined && acquired(b) === undefined) {
      assert.ok(Date.now() < deadline, 'nobody took the lease');
      await sleep(100);
    }
    await sleep(3000);
    const [leader, standby] = acquired(a) !== undefined ? [a, b] : [b, a];
    assert.equal(acquired(standby), undefined, 'both instances hold the lease');
    assert.ok(standby.lines().some((l) => String(l['msg']).startsWith('standby')), 'the other one says it is standby');
    await leader.kill9();
    const killedAt = Date.now();
    await sleep(1000);
    const stats = await bg.stop();
    await waitForCatchUp(stack, 'lease', 120_000, standby);
    const took = acquired(standby);
    assert.ok(took !== undefined && Number(took['time']) >= killedAt, 'the standby took over only after the writer died');
    assert.equal(await standby.stop(), 0, standby.logs().slice(-2000));
    await assertLossless(stack, stats, { pipeline: 'lease', include: 'shop' });
    await conn.end();
  });

  it('a writer whose lease is taken over stops its machines and exits 1 on its own, naming LEASE_LOST', async () => {
    const { conn, workload } = await shopWorkload(stack, 67);
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'deposed', include: 'shop', name: 'deposed', env: { SDL_LEASE_TTL_MS: '2000' } });
    sdl.start();
    const client = new MongoClient(stack.mongo.url);
    try {
      for (let i = 0; i < 10; i++) await workload.step();
      await waitForCatchUp(stack, 'deposed', 120_000, sdl);
      // What a standby does on takeover: a new owner and the next term.
      await client.db('sdl').collection<{ _id: string }>('leases').updateOne({ _id: 'deposed' }, { $set: { owner: 'usurper', expiresAt: new Date(Date.now() + 600_000) }, $inc: { term: 1 } });
      const deadline = Date.now() + 30_000;
      while (sdl.running && Date.now() < deadline) await sleep(200);
      assert.equal(sdl.running, false, 'the deposed writer is still running');
      assert.equal(await sdl.stop(), 1, sdl.logs().slice(-2000));
      const fatal = sdl.lines().find((l) => l['level'] === 60);
      assert.ok(fatal !== undefined && JSON.stringify(fatal).includes('LEASE_LOST'), `fatal line names LEASE_LOST: ${JSON.stringify(fatal)}`);
      assert.ok(sdl.lines().some((l) => l['machine'] === 'supervisor' && l['to'] === 'failed'), 'the supervisor machine ended in failed (not a process.exit from a timer)');
    } finally {
      await client.close();
      await conn.end();
    }
  });
});
