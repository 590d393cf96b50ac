import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import { streamWholeBinlog } from '../support/binlog.js';
import { sleep } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startSecondSource, startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';

/** Row changes one source made, by kind: what its event log must hold, exactly. */
interface Counts {
  insert: number;
  update: number;
  delete: number;
}

/**
 * Two sources into one sdl database. Two fresh MariaDB servers log the very same GTIDs
 * (`0-1-1`, `0-1-2`, …), so anything keyed by GTID alone would collide across pipelines.
 */
describe('two pipelines sharing one sdl database', () => {
  let stack: Stack;
  let stackB: Stack;
  before(async () => {
    stack = await startStack();
    stackB = await startSecondSource(stack);
  });
  after(async () => {
    await stackB?.stop();
    await stack?.stop();
  });

  it('each pipeline writes only its own events, staging and checkpoint, through crashes of both', async () => {
    const a = await stack.mariadb.connect();
    const b = await stackB.mariadb.connect();
    await a.query('CREATE DATABASE alpha; CREATE TABLE alpha.t (id INT PRIMARY KEY, v INT, note VARCHAR(20))');
    await b.query('CREATE DATABASE beta; CREATE TABLE beta.t (id INT PRIMARY KEY, v INT, note VARCHAR(20))');
    const counts: Record<'alpha' | 'beta', Counts> = { alpha: { insert: 0, update: 0, delete: 0 }, beta: { insert: 0, update: 0, delete: 0 } };
    const write = async (round: number): Promise<void> => {
      await change(a, 'alpha', round, counts.alpha);
      await change(b, 'beta', round, counts.beta);
    };
    const pa = (name: string, env: Record<string, string> = {}): SdlProcess => new SdlProcess(stack.scratch, stack, { pipeline: 'pa', include: 'alpha', name, env: { SDL_MYSQL_URL: stack.mariadb.url, ...env } });
    const pb = (name: string, env: Record<string, string> = {}): SdlProcess => new SdlProcess(stack.scratch, stack, { pipeline: 'pb', include: 'beta', name, env: { SDL_MYSQL_URL: stackB.mariadb.url, ...env } });

    for (let r = 0; r < 10; r++) await write(r);
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'pa');
    await streamWholeBinlog(stackB, 'pb');
    // pa dies right after staging a batch: its pending batch must be re-applied by pa alone.
    const crashing = pa('pa-crash', { SDL_FAULT: 'after-stage' });
    crashing.start();
    assert.equal(await crashing.exited(), 137, crashing.logs().slice(-2000));
    for (let r = 10; r < 20; r++) await write(r);
    // pb starts with pa's batch pending in the shared staging collection.
    let b1 = pb('pb-1');
    b1.start();
    await waitForCatchUp(stackB, 'pb', 120_000, b1);
    let a1 = pa('pa-1');
    a1.start();
    await waitForCatchUp(stack, 'pa', 120_000, a1);
    // Both killed mid-stream, repeatedly.
    for (let k = 0; k < 3; k++) {
      for (let r = 0; r < 5; r++) await write(100 + k * 10 + r);
      await sleep(300 + k * 200);
      await a1.kill9();
      await b1.kill9();
      for (let r = 5; r < 10; r++) await write(100 + k * 10 + r);
      a1 = pa(`pa-${k + 2}`);
      b1 = pb(`pb-${k + 2}`);
      a1.start();
      b1.start();
    }
    await waitForCatchUp(stack, 'pa', 120_000, a1);
    await waitForCatchUp(stackB, 'pb', 120_000, b1);
    assert.equal(await a1.stop(), 0, a1.logs().slice(-2000));
    assert.equal(await b1.stop(), 0, b1.logs().slice(-2000));

    await assertMirrorsEqual(stack, ['alpha']);
    await assertMirrorsEqual(stackB, ['beta']);
    assert.deepEqual(await eventCounts(stack, 'alpha', 't'), counts.alpha, 'alpha event log: each row change exactly once');
    assert.deepEqual(await eventCounts(stack, 'beta', 't'), counts.beta, 'beta event log: each row change exactly once');
    const client = new MongoClient(stack.mongo.url);
    try {
      const offsets = client.db('sdl').collection<{ _id: string; gtid: string | null }>('offsets');
      const [gtidA] = (await a.query('SELECT @@gtid_binlog_pos AS g'))[0] as { g: string }[];
      const [gtidB] = (await b.query('SELECT @@gtid_binlog_pos AS g'))[0] as { g: string }[];
      assert.equal((await offsets.findOne({ _id: 'pa' }))?.gtid, gtidA?.g);
      assert.equal((await offsets.findOne({ _id: 'pb' }))?.gtid, gtidB?.g);
      assert.equal(await client.db('sdl').collection('row_changes_staging').countDocuments({ status: 'pending' }), 0);
    } finally {
      await client.close();
      await a.end();
      await b.end();
    }
  });
});

/** One transaction on one source: inserts, an update and a delete, counted as the binlog logs them. */
async function change(conn: Connection, db: string, round: number, counts: Counts): Promise<void> {
  const base = round * 10;
  await conn.query('BEGIN');
  for (let i = 0; i < 4; i++) await conn.query(`INSERT INTO ${db}.t VALUES (?, ?, ?)`, [base + i, i, `${db} ${round}`]);
  await conn.query(`UPDATE ${db}.t SET v = v + 100 WHERE id = ?`, [base + 1]);
  await conn.query(`DELETE FROM ${db}.t WHERE id = ?`, [base + 2]);
  await conn.query('COMMIT');
  counts.insert += 4;
  counts.update += 1;
  counts.delete += 1;
}
