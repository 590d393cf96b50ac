import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { scrape } from '../support/metrics.js';
import { streamWholeBinlog } from '../support/binlog.js';
import { assertLossless, shopWorkload, sleep } from '../support/fault-run.js';
import { freePort } from '../support/ports.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { BackgroundWorkload, Workload } from '../support/workload.js';

const OUTAGE_MS = Number(process.env['SDL_OUTAGE_MS'] ?? 60_000);

describe('outages of MongoDB and MariaDB under load', () => {
  let stack: Stack;
  beforeEach(async () => {
    stack = await startStack();
  });
  afterEach(async () => {
    await stack?.stop();
  });

  it('MongoDB killed mid-batch and restarted: sdl retries, never exits, loses nothing', async (t) => {
    if (!stack.mongo.controllable) return t.skip('SDL_TEST_MONGO_URL server cannot be killed by the harness');
    const { conn, workload } = await shopWorkload(stack, 31);
    await workload.run(300);
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'reset');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'reset', include: 'shop' });
    sdl.start();
    const bg = new BackgroundWorkload(workload);
    // Mid-batch: once the committer is writing (on a loaded machine start-up alone can take longer than a fixed sleep).
    const deadline = Date.now() + 60_000;
    while (!sdl.lines().some((l) => l['machine'] === 'committer' && l['to'] === 'writing')) {
      assert.ok(Date.now() < deadline && sdl.running, `sdl never started writing:\n${sdl.logs().slice(-2000)}`);
      await sleep(50);
    }
    await stack.mongo.kill9();
    await sleep(3000);
    await stack.mongo.start();
    await sleep(1000);
    const stats = await bg.stop();
    await waitForCatchUp(stack, 'reset', 120_000, sdl);
    assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    assert.ok(sdl.lines().some((l) => l['msg'] === 'transition' && JSON.stringify(l['to']).includes('degraded')), 'supervisor went degraded');
    await assertLossless(stack, stats, { pipeline: 'reset', include: 'shop' });
    await conn.end();
  });

  it(`MongoDB down for ${OUTAGE_MS / 1000} s under load: the reader pauses, memory stays bounded, nothing is lost`, async (t) => {
    if (!stack.mongo.controllable) return t.skip('SDL_TEST_MONGO_URL server cannot be stopped by the harness');
    const { conn, workload } = await shopWorkload(stack, 37);
    const port = await freePort();
    const http = `http://127.0.0.1:${port}`;
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'outage');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'outage', include: 'shop', env: { SDL_LOG_LEVEL: 'info', SDL_HTTP_ADDR: `127.0.0.1:${port}` } });
    sdl.start();
    const bg = new BackgroundWorkload(workload, 10);
    // Stop MongoDB once sdl streams: a fixed 2 s sleep stopped it during a slow start-up (the
    // supervisor then retries `starting`, never `degraded`, and the test failed on a loaded machine).
    const deadline = Date.now() + 60_000;
    while (!sdl.lines().some((l) => l['machine'] === 'committer' && l['to'] === 'writing')) {
      assert.ok(Date.now() < deadline && sdl.running, `sdl never started writing:\n${sdl.logs().slice(-2000)}`);
      await sleep(50);
    }
    await stack.mongo.stop();
    let peakRssKb = 0;
    let sawOutage = false;
    const until = Date.now() + OUTAGE_MS;
    while (Date.now() < until) {
      assert.ok(sdl.running, `sdl exited during the outage:\n${sdl.logs().slice(-3000)}`);
      peakRssKb = Math.max(peakRssKb, rssKb(sdl.pid));
      const m = await scrape(http);
      if (m.get('sdl_degraded') === 1 && (await fetch(`${http}/readyz`)).status === 503 && sum(m, 'sdl_retries_total{') > 0) sawOutage = true;
      await sleep(1000);
    }
    assert.ok(sawOutage, 'during the outage /metrics never showed sdl_degraded 1 with retries counted and /readyz 503');
    await stack.mongo.start();
    const stats = await bg.stop();
    await waitForCatchUp(stack, 'outage', 400_000, sdl);
    const healthy = await scrape(http);
    assert.equal(healthy.get('sdl_degraded'), 0);
    assert.ok((healthy.get('sdl_rows_committed_total') ?? 0) > 0);
    assert.ok((healthy.get('sdl_process_resident_memory_bytes') ?? 0) > 0, 'default process metrics are exported');
    assert.equal(healthy.get('sdl_machine_state{machine="supervisor",state="active.running.healthy"}'), 1);
    assert.equal((await fetch(`${http}/readyz`)).status, 200);
    assert.equal((await fetch(`${http}/healthz`)).status, 200);
    assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    assert.ok(peakRssKb < 300 * 1024, `peak RSS ${peakRssKb} kB during the outage`);
    await assertLossless(stack, stats, { pipeline: 'outage', include: 'shop' });
    await conn.end();
  });

  it('MariaDB restarted under load and binlogs rotated many times: the reader resumes where it stopped', async () => {
    const { conn, workload } = await shopWorkload(stack, 41);
    await workload.run(400);
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'source');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'source', include: 'shop' });
    sdl.start();
    await sleep(800);
    await conn.end();
    await stack.mariadb.restart();
    const conn2 = await stack.mariadb.connect();
    const workload2 = new Workload(conn2, 43);
    for (let i = 0; i < 20; i++) {
      await workload2.run(10);
      await conn2.query('FLUSH BINARY LOGS');
    }
    await waitForCatchUp(stack, 'source', 120_000, sdl);
    assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    const total = {
      transactions: workload.stats.transactions + workload2.stats.transactions,
      inserts: workload.stats.inserts + workload2.stats.inserts,
      updates: workload.stats.updates + workload2.stats.updates,
      deletes: workload.stats.deletes + workload2.stats.deletes,
    };
    await assertLossless(stack, total, { pipeline: 'source', include: 'shop' });
    await conn2.end();
  });

  it('binlog purged past the checkpoint: exits 1 naming the position needed, writes nothing', async () => {
    const { conn, workload } = await shopWorkload(stack, 47);
    await workload.run(20);
    const first = new SdlProcess(stack.scratch, stack, { pipeline: 'purged', include: 'shop', name: 'purged-1' });
    first.start();
    await waitForCatchUp(stack, 'purged', 60_000, first);
    assert.equal(await first.stop(), 0);
    await workload.run(20);
    await conn.query('FLUSH BINARY LOGS');
    // MariaDB keeps a file until its binlog checkpoint moves past it: purge until it is gone.
    for (let tries = 0; ; tries++) {
      const [logs] = await conn.query('SHOW BINARY LOGS');
      const names = (logs as { Log_name: string }[]).map((l) => l.Log_name);
      if (names.length === 1) break;
      assert.ok(tries < 50, `could not purge ${names.join(', ')}`);
      await conn.query(`PURGE BINARY LOGS TO '${names.at(-1)}'`);
      await sleep(200);
    }
    const client = new MongoClient(stack.mongo.url);
    const before = await client.db('sdl').collection('row_changes').countDocuments();
    const second = new SdlProcess(stack.scratch, stack, { pipeline: 'purged', include: 'shop', name: 'purged-2' });
    second.start();
    assert.equal(await second.exited(), 1, second.logs().slice(-3000));
    const fatal = second.lines().find((l) => l['level'] === 60);
    assert.ok(fatal, 'one fatal line');
    assert.match(String(fatal['msg']), /no longer has the binlog/);
    assert.match(String(fatal['msg']), /re-snapshot/);
    assert.match(String(fatal['msg']), /0-1-\d+/, 'names the GTID it needed');
    assert.equal(await client.db('sdl').collection('row_changes').countDocuments(), before, 'nothing written');
    await client.close();
    await conn.end();
  });
});

function rssKb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}


function sum(m: Map<string, number>, prefix: string): number {
  let total = 0;
  for (const [k, v] of m) if (k.startsWith(prefix)) total += v;
  return total;
}
