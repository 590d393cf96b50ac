import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { streamWholeBinlog } from '../support/binlog.js';
import { assertLossless, shopWorkload, sleep } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { assertMirrorsEqual } from '../support/verify.js';
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

  it('a writer cut off from MongoDB past its lease writes nothing when the partition heals: a row the new writer deleted stays deleted', async (t) => {
    if (stack.mongo.port === undefined) return t.skip('SDL_TEST_MONGO_URL: no local port to put a proxy in front of');
    const proxy = await TcpProxy.start(stack.mongo.port);
    const conn = await stack.mariadb.connect();
    const client = new MongoClient(stack.mongo.url);
    const env = { SDL_LEASE_TTL_MS: '3000' };
    const a = new SdlProcess(stack.scratch, stack, { pipeline: 'fenced', include: 'fence', name: 'fenced-a', env: { ...env, SDL_MONGO_URL: `mongodb://127.0.0.1:${proxy.port}/` } });
    const b = new SdlProcess(stack.scratch, stack, { pipeline: 'fenced', include: 'fence', name: 'fenced-b', env });
    try {
      await conn.query('CREATE DATABASE fence; CREATE TABLE fence.t (id INT PRIMARY KEY, v INT)');
      for (let i = 1; i <= 20; i++) await conn.query('INSERT INTO fence.t VALUES (?, 0)', [i]);
      a.start();
      await waitForCatchUp(stack, 'fenced', 120_000, a);
      // A loses MongoDB (connections reset, new ones never answer) with changes still to write.
      proxy.blackhole = true;
      proxy.cut();
      await conn.query('UPDATE fence.t SET v = v + 1 WHERE id <= 10');
      await sleep(4000);
      // A's lease has expired: B takes over, writes those updates and then the deletes.
      b.start();
      await b.leaseAcquired();
      await conn.query('DELETE FROM fence.t WHERE id <= 10');
      await waitForCatchUp(stack, 'fenced', 120_000, b);
      // The partition heals. A must find out it lost the lease before writing anything.
      proxy.blackhole = false;
      const deadline = Date.now() + 60_000;
      while (a.running && Date.now() < deadline) await sleep(200);
      assert.equal(a.running, false, 'the deposed writer is still running after the partition healed');
      assert.equal(await a.stop(), 1, a.logs().slice(-2000));
      assert.ok(a.lines().some((l) => JSON.stringify(l).includes('LEASE_LOST')), 'A stopped with LEASE_LOST');
      await sleep(1000);
      const back = await client.db('fence').collection('t').countDocuments({ _id: { $lte: 10 } } as never);
      assert.equal(back, 0, 'rows deleted by the new writer came back from the old one');
      await waitForCatchUp(stack, 'fenced', 120_000, b);
      await assertMirrorsEqual(stack, ['fence']);
      assert.equal(await b.stop(), 0, b.logs().slice(-2000));
    } finally {
      if (a.running) await a.kill9();
      if (b.running) await b.kill9();
      await client.close();
      await conn.end();
      await proxy.stop();
    }
  });
});
