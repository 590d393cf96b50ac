import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import { streamWholeBinlog } from '../support/binlog.js';
import { sleep } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';
import { rng } from '../support/workload.js';

async function deadLetters(stack: Stack): Promise<number> {
  const client = new MongoClient(stack.mongo.url);
  try {
    return await client.db('sdl').collection('dead_letters').countDocuments({});
  } finally {
    await client.close();
  }
}

async function count(conn: Connection, table: string): Promise<number> {
  const [rows] = await conn.query(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number((rows as { n: number }[])[0]?.n);
}

/** Mirror `_id`s against a real MariaDB and `sdl run`: exact, injective, and matched on every later write. */
describe('sdl run: mirror keys', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('gives rows whose keys differ below a millisecond, in the 40th digit or by a zero date their own documents', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`SET SESSION sql_mode = ''; SET time_zone = '+00:00'; CREATE DATABASE exact;
      CREATE TABLE exact.dt6 (k DATETIME(6) PRIMARY KEY, v INT);
      CREATE TABLE exact.ts6 (k TIMESTAMP(6) NOT NULL, v INT, PRIMARY KEY (k));
      CREATE TABLE exact.zd (k DATETIME PRIMARY KEY, v INT);
      CREATE TABLE exact.zdate (k DATE PRIMARY KEY, v INT);
      CREATE TABLE exact.dec (k DECIMAL(65,30) PRIMARY KEY, v INT);
      CREATE TABLE exact.st (k SET('a','b') NOT NULL PRIMARY KEY, v INT);
      CREATE TABLE exact.vb (s VARCHAR(20) NOT NULL, b BIGINT NOT NULL, v INT, PRIMARY KEY (s, b));
      INSERT INTO exact.dt6 VALUES ('2024-01-02 03:04:05.123456', 1), ('2024-01-02 03:04:05.123457', 2), ('2024-01-02 03:04:05.123458', 3), ('2024-01-02 03:04:05.123000', 4);
      INSERT INTO exact.ts6 VALUES ('2024-01-02 03:04:05.000001', 1), ('2024-01-02 03:04:05.000002', 2), ('2024-01-02 03:04:05.000003', 3);
      INSERT INTO exact.zd VALUES ('0000-00-00 00:00:00', 1), ('2024-00-00 00:00:00', 2), ('2024-01-01 00:00:00', 3);
      INSERT INTO exact.zdate VALUES ('0000-00-00', 1), ('2024-02-00', 2), ('2024-02-01', 3);
      INSERT INTO exact.dec VALUES
        ('12345678901234567890123456789012345.123456789012345678901234567891', 1),
        ('12345678901234567890123456789012345.123456789012345678901234567892', 2),
        ('1.5', 3), ('-0.000000000000000000000000000001', 4);
      INSERT INTO exact.st VALUES ('a', 1), ('a,b', 2), ('', 3);
      INSERT INTO exact.vb VALUES ('x', 9223372036854775807, 1), ('x', -9223372036854775808, 2), ('x', 9007199254740993, 3), ('x', 9007199254740992, 4);`);
    // Updates and deletes in later transactions than the inserts, so they must find those documents.
    await conn.query(`UPDATE exact.dt6 SET v = 20 WHERE k = '2024-01-02 03:04:05.123457';
      DELETE FROM exact.dt6 WHERE k = '2024-01-02 03:04:05.123458';
      UPDATE exact.ts6 SET v = 20 WHERE k = '2024-01-02 03:04:05.000002';
      UPDATE exact.zd SET v = 10 WHERE k = '0000-00-00 00:00:00';
      DELETE FROM exact.zd WHERE k = '2024-00-00 00:00:00';
      UPDATE exact.dec SET v = 20 WHERE v = 2;
      UPDATE exact.st SET v = 30 WHERE k = '';
      UPDATE exact.vb SET v = 30 WHERE b = 9007199254740993;
      DELETE FROM exact.vb WHERE b = 9007199254740992;`);

    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'exact');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'exact', include: 'exact' });
    sdl.start();
    let report;
    try {
      await waitForCatchUp(stack, 'exact', 120_000, sdl);
      report = await assertMirrorsEqual(stack, ['exact']);
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    }
    for (const t of report.tables) {
      const rows = await count(conn, `exact.${t.table}`);
      assert.equal(t.sourceRows, rows, `exact.${t.table}: the verifier counts every source row`);
      assert.equal(t.mirrorDocs, rows, `exact.${t.table}: one document per source row`);
    }
    assert.equal(report.tables.length, 7);
    assert.equal(await deadLetters(stack), 0);

    const client = new MongoClient(stack.mongo.url);
    try {
      const ids = async (t: string): Promise<unknown[]> =>
        (await client.db('exact').collection(t).find({}, { promoteValues: false }).toArray()).map((d) => d['_id']);
      // Sub-millisecond keys are their exact text for every row of the column, also where the digits are zeros.
      assert.deepEqual((await ids('dt6')).map(String).sort(), ['2024-01-02 03:04:05.123000', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123457']);
      assert.ok((await ids('zd')).some((id) => id === '0000-00-00 00:00:00'));
      assert.ok((await ids('zd')).some((id) => id instanceof Date));
      assert.deepEqual((await ids('st')).map(String).sort(), ['', 'a', 'a,b']);
    } finally {
      await client.close();
      await conn.end();
    }
  });

  it('kill -9 mid-stream on a (VARCHAR, BIGINT) table: mirrors equal, no dead letters, each change logged once', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE kv; CREATE TABLE kv.t (s VARCHAR(20) NOT NULL, b BIGINT NOT NULL, v INT, PRIMARY KEY (s, b))`);
    const random = rng(77);
    const live: Array<[string, bigint]> = [];
    const stats = { insert: 0, update: 0, delete: 0 };
    let next = 0n;
    let running = true;
    const workload = (async () => {
      while (running) {
        await conn.query('START TRANSACTION');
        const done = { insert: 0, update: 0, delete: 0 };
        const added: Array<[string, bigint]> = [];
        const gone = new Set<number>();
        for (let i = 0; i < 1 + Math.floor(random() * 4); i++) {
          const r = random();
          const pick = Math.floor(random() * live.length);
          const key = live[pick];
          if (r < 0.5 || key === undefined || gone.has(pick)) {
            // Beyond 2^53 and on both signs: every key is a Long that the driver cannot promote exactly.
            const k: [string, bigint] = [`s${Number(next % 3n)}`, (next % 2n === 0n ? 1n : -1n) * (2n ** 62n + next)];
            next++;
            await conn.query('INSERT INTO kv.t VALUES (?, ?, ?)', [k[0], k[1], i]);
            added.push(k);
            done.insert++;
          } else if (r < 0.85) {
            await conn.query('UPDATE kv.t SET v = v + 1 WHERE s = ? AND b = ?', [key[0], key[1]]);
            done.update++;
          } else {
            await conn.query('DELETE FROM kv.t WHERE s = ? AND b = ?', [key[0], key[1]]);
            gone.add(pick);
            done.delete++;
          }
        }
        await conn.query('COMMIT');
        const kept = live.filter((_, i) => !gone.has(i));
        live.length = 0;
        live.push(...kept, ...added);
        stats.insert += done.insert;
        stats.update += done.update;
        stats.delete += done.delete;
        await sleep(2);
      }
    })();
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'kv');
    for (let k = 0; k < 5; k++) {
      const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'kv', include: 'kv', name: `kv-${k}` });
      sdl.start();
      await sdl.leaseAcquired();
      await sleep(500 + Math.floor(random() * 2000));
      await sdl.kill9();
    }
    running = false;
    await workload;
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'kv', include: 'kv', name: 'kv-final' });
    sdl.start();
    try {
      await waitForCatchUp(stack, 'kv', 180_000, sdl);
      const report = await assertMirrorsEqual(stack, ['kv']);
      assert.equal(report.tables[0]?.sourceRows, live.length);
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    }
    assert.ok(stats.update > 20 && stats.delete > 5, `workload too small: ${JSON.stringify(stats)}`);
    assert.equal(await deadLetters(stack), 0);
    assert.deepEqual(await eventCounts(stack, 'kv', 't'), stats);
    await conn.end();
  });
});
