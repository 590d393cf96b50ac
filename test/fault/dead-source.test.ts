import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { streamWholeBinlog } from '../support/binlog.js';
import { shopWorkload, sleep, assertLossless } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { BackgroundWorkload } from '../support/workload.js';

/**
 * The source vanishing without closing its connections: a host gone, a NAT entry dropped. A
 * proxy between sdl and mariadbd stops forwarding on open connections while keeping them open.
 */
describe('a dead source connection', () => {
  let stack: Stack;
  let proxy: TcpProxy;
  beforeEach(async () => {
    stack = await startStack();
    proxy = await TcpProxy.start(stack.mariadb.port);
  });
  afterEach(async () => {
    await proxy?.stop();
    await stack?.stop();
  });

  const viaProxy = (): string => `mysql://root@127.0.0.1:${proxy.port}`;

  it('silent replication connection: the reader notices within a few heartbeats, reconnects and loses nothing', async () => {
    const { conn, workload } = await shopWorkload(stack, 41);
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'silent');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'silent', include: 'shop', env: { SDL_MYSQL_URL: viaProxy(), SDL_MYSQL_HEARTBEAT_MS: '500' } });
    sdl.start();
    try {
      for (let i = 0; i < 20; i++) await workload.step();
      await waitForCatchUp(stack, 'silent', 120_000, sdl);
      assert.ok(proxy.freeze() > 0, 'sdl holds connections through the proxy');
      // Rows written now reach sdl only over a new connection.
      const bg = new BackgroundWorkload(workload, 10);
      await sleep(3000);
      await bg.stop();
      await waitForCatchUp(stack, 'silent', 120_000, sdl);
      assert.ok(sdl.lines().some((l) => JSON.stringify(l).includes('SOURCE_SILENT')), 'the silence was reported as SOURCE_SILENT');
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
      await assertLossless(stack, workload.stats, { pipeline: 'silent', include: 'shop' });
    } finally {
      if (sdl.running) await sdl.kill9();
      await conn.end();
    }
  });

  it('SIGTERM while the source is unreachable and silent: stops within 30 s with its checkpoint, the next run catches up', async () => {
    const { conn, workload } = await shopWorkload(stack, 43);
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'stop-dead');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'stop-dead', include: 'shop', name: 'stop-dead-1', env: { SDL_MYSQL_URL: viaProxy(), SDL_MYSQL_HEARTBEAT_MS: '500' } });
    sdl.start();
    try {
      for (let i = 0; i < 20; i++) await workload.step();
      await waitForCatchUp(stack, 'stop-dead', 120_000, sdl);
      proxy.blackhole = true;
      proxy.freeze();
      for (let i = 0; i < 20; i++) await workload.step();
      await sleep(2000);
      const t0 = Date.now();
      const code = await sdl.stop();
      assert.equal(code, 0, sdl.logs().slice(-3000));
      assert.ok(Date.now() - t0 < 30_000, `stop took ${Date.now() - t0} ms`);
    } finally {
      proxy.blackhole = false;
      if (sdl.running) await sdl.kill9();
      await conn.end();
    }
    await assertLossless(stack, workload.stats, { pipeline: 'stop-dead', include: 'shop' });
  });

  it('an idle source whose only writes go to excluded tables still moves the checkpoint', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE IF NOT EXISTS excluded; CREATE TABLE IF NOT EXISTS excluded.noise (id INT PRIMARY KEY AUTO_INCREMENT, v INT)');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'idle', include: 'shop', env: { SDL_MYSQL_HEARTBEAT_MS: '500' } });
    sdl.start();
    const client = new MongoClient(stack.mongo.url);
    try {
      await waitForCatchUp(stack, 'idle', 120_000, sdl);
      for (let i = 0; i < 5; i++) await conn.query('INSERT INTO excluded.noise (v) VALUES (?)', [i]);
      await conn.query('FLUSH BINARY LOGS');
      await conn.query('INSERT INTO excluded.noise (v) VALUES (99)');
      // The head moves by itself too (MariaDB writes a binlog checkpoint event after a rotation):
      // the checkpoint must reach wherever the head is.
      const deadline = Date.now() + 60_000;
      let cp: { file?: string; pos?: number } | null = null;
      let head = { file: '', pos: -1 };
      while (Date.now() < deadline) {
        const [status] = await conn.query('SHOW MASTER STATUS');
        const row = (status as { File: string; Position: number | string }[])[0];
        head = { file: row?.File ?? '', pos: Number(row?.Position) };
        cp = await client.db('sdl').collection<{ _id: string; file?: string; pos?: number }>('offsets').findOne({ _id: 'idle' });
        if (cp?.file === head.file && cp.pos === head.pos) break;
        await sleep(250);
      }
      const [events] = await conn.query(`SHOW BINLOG EVENTS IN '${head.file}'`);
      assert.deepEqual({ file: cp?.file, pos: cp?.pos }, head, `checkpoint reached the head of the binlog:\n${JSON.stringify(events, null, 1)}`);
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    } finally {
      if (sdl.running) await sdl.kill9();
      await client.close();
      await conn.end();
    }
  });
});
