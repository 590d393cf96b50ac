import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { streamFromHere } from '../support/binlog.js';
import { scrape } from '../support/metrics.js';
import { freePort } from '../support/ports.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { sdlCheck, type CheckFinding, type CheckReport } from '../support/sdl-cli.js';

type Finding = CheckFinding;
type Report = CheckReport;
const check = sdlCheck;

/** The stack's MongoDB URL with the operator's write concern options added. */
function withOptions(url: string, options: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(options)) u.searchParams.set(k, v);
  return u.toString();
}

const finding = (r: Report, name: string): Finding | undefined => r.target?.findings?.find((f) => f.check === name);

describe('write concern in the open', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('sdl check states the write concern sdl would use and the replica set state', async () => {
    const { code, report } = await check(stack);
    assert.equal(code, 0, JSON.stringify(report));
    const wc = finding(report, 'write concern');
    assert.ok(wc?.ok, JSON.stringify(wc));
    assert.deepEqual(wc.writeConcern, { w: 'majority', j: true });
    assert.match(wc.detail, /^every write uses \{ w: "majority", j: true \} \(the strongest the server accepts\)/);
    const rs = finding(report, 'replica set');
    assert.ok(rs !== undefined, JSON.stringify(report.target));
    if (report.target?.topology?.kind === 'standalone') {
      // FerretDB (and a standalone mongod): a warning, not a failure, with the fix.
      assert.equal(rs.ok, true);
      assert.equal(rs.warning, true);
      assert.match(rs.detail, /standalone server: no replica set/);
      assert.match(rs.fix ?? '', /replica set/);
    } else {
      assert.match(rs.detail, /replica set \S+, primary \S+, members: /);
    }
  });

  it('a weak concern in mongo.url (w=1): check exits 2 naming the setting; with it, a warning', async () => {
    const weakUrl = withOptions(stack.mongo.url, { w: '1' });
    const refused = await check(stack, { SDL_MONGO_URL: weakUrl });
    assert.equal(refused.code, 2);
    const wc = finding(refused.report, 'write concern');
    assert.equal(wc?.ok, false, JSON.stringify(wc));
    assert.match(wc.detail, /mongo\.url sets the write concern \{ w: 1, j: true \}, weaker than \{ w: "majority", j: true \}.*mongo\.allowWeakWriteConcern: true/);
    const allowed = await check(stack, { SDL_MONGO_URL: weakUrl, SDL_MONGO_ALLOW_WEAK_WRITE_CONCERN: 'true' });
    const ok = finding(allowed.report, 'write concern');
    assert.equal(ok?.ok, true, JSON.stringify(ok));
    assert.equal(ok.warning, true);
    assert.deepEqual(ok.writeConcern, { w: 1, j: true });
    assert.equal(allowed.report.target?.ok, true);
  });

  it('sdl run with journal=false in mongo.url refuses to start (exit 2) without mongo.allowWeakWriteConcern, writing nothing', async () => {
    const sdl = new SdlProcess(stack.scratch, stack, { name: 'weak-refused', pipeline: 'weak', env: { SDL_MONGO_URL: withOptions(stack.mongo.url, { journal: 'false' }) } });
    sdl.start();
    assert.equal(await sdl.exited(), 2, sdl.logs().slice(-2000));
    const fatal = sdl.lines().find((l) => l['level'] === 60);
    assert.match(String(fatal?.['msg']), /mongo\.url sets the write concern \{ w: "majority", j: false \}, weaker than \{ w: "majority", j: true \}.*set mongo\.allowWeakWriteConcern: true/);
    assert.ok(!sdl.lines().some((l) => l['msg'] === 'lease acquired: this instance writes the pipeline'), 'took the lease (wrote) before refusing');
  });

  it('allowed, sdl run warns at start, uses the weak concern for every write and shows it in /metrics; the default is majority + journal', async () => {
    const conn = await stack.mariadb.connect();
    try {
      await conn.query('CREATE DATABASE wc; CREATE TABLE wc.t (id INT PRIMARY KEY, v INT)');
      await streamFromHere(stack, 'wc');
      for (const [name, env, expected] of [
        ['weak-allowed', { SDL_MONGO_URL: withOptions(stack.mongo.url, { w: '1', journal: 'true' }), SDL_MONGO_ALLOW_WEAK_WRITE_CONCERN: 'true' }, { w: '1', j: 'true' }],
        ['strong', {}, { w: 'majority', j: 'true' }],
      ] as const) {
        const port = await freePort();
        const sdl = new SdlProcess(stack.scratch, stack, { name, pipeline: 'wc', include: 'wc', env: { ...env, SDL_HTTP_ADDR: `127.0.0.1:${port}` } });
        sdl.start();
        try {
          await sdl.leaseAcquired();
          await conn.query('INSERT INTO wc.t VALUES (?, 1) ON DUPLICATE KEY UPDATE v = v + 1', [name.length]);
          await waitForCatchUp(stack, 'wc', 60_000, sdl);
          const line = sdl.lines().find((l) => /^write concern \{/.test(String(l['msg'])));
          assert.ok(line !== undefined, sdl.logs().slice(-2000));
          const concern = line['writeConcern'] as { w: unknown; j: unknown };
          assert.deepEqual({ w: String(concern.w), j: String(concern.j) }, expected);
          if (name === 'weak-allowed') {
            assert.equal(line['level'], 40, 'a weak concern is a warning');
            assert.match(String(line['msg']), /weaker than \{ w: "majority", j: true \} \(allowed by mongo\.allowWeakWriteConcern\)/);
          } else {
            assert.equal(line['level'], 30);
          }
          const metrics = await scrape(`http://127.0.0.1:${port}`);
          assert.equal(metrics.get(`sdl_write_concern_info{w="${expected.w}",j="${expected.j}"}`), 1, [...metrics.keys()].filter((k) => k.startsWith('sdl_write')).join(', '));
          assert.equal([...metrics.keys()].filter((k) => k.startsWith('sdl_write_concern_info')).length, 1);
        } finally {
          assert.equal(await sdl.stop(), 0, sdl.logs().slice(-2000));
        }
      }
    } finally {
      await conn.end();
    }
  });
});
