import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { streamWholeBinlog } from '../support/binlog.js';
import { assertLossless, shopWorkload } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual } from '../support/verify.js';

describe('schema changes mid-stream and crashes inside the commit protocol', () => {
  let stack: Stack;
  beforeEach(async () => {
    stack = await startStack();
  });
  afterEach(async () => {
    await stack?.stop();
  });

  it('DDL of each kind interleaved with writes: rows decode with their own schema, mirrors follow', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE ddl; CREATE TABLE ddl.a (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO ddl.a VALUES (1, "one"), (2, "two")');
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'ddl');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'ddl', include: 'ddl' });
    sdl.start();
    const steps = [
      'ALTER TABLE ddl.a ADD COLUMN n INT',
      'UPDATE ddl.a SET n = id * 10',
      'INSERT INTO ddl.a VALUES (3, "three", 30)',
      'ALTER TABLE ddl.a MODIFY COLUMN v VARCHAR(50)',
      'INSERT INTO ddl.a VALUES (4, "a much longer value", 40)',
      'ALTER TABLE ddl.a RENAME COLUMN v TO label',
      'UPDATE ddl.a SET label = CONCAT(label, "!")',
      'ALTER TABLE ddl.a DROP COLUMN n',
      'UPDATE ddl.a SET label = UPPER(label)',
      'CREATE TABLE ddl.b (id INT PRIMARY KEY, x TEXT)',
      'INSERT INTO ddl.b VALUES (1, "b1"), (2, "b2")',
      'RENAME TABLE ddl.b TO ddl.c',
      'INSERT INTO ddl.c VALUES (3, "c3")',
      'CREATE TABLE ddl.gone (id INT PRIMARY KEY)',
      'INSERT INTO ddl.gone VALUES (1)',
      'DROP TABLE ddl.gone',
      'CREATE TABLE ddl.t (id INT PRIMARY KEY)',
      'INSERT INTO ddl.t VALUES (1), (2), (3)',
      'TRUNCATE TABLE ddl.t',
      'INSERT INTO ddl.t VALUES (9)',
    ];
    for (const sql of steps) await conn.query(sql);
    try {
      await waitForCatchUp(stack, 'ddl', 120_000, sdl);
      await assertMirrorsEqual(stack, ['ddl']);
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
      await conn.end();
    }
    const client = new MongoClient(stack.mongo.url);
    try {
      const names = (await client.db('ddl').listCollections().toArray()).map((c) => c.name).sort();
      assert.deepEqual(names, ['a', 'c', 't']);
      const history = await client.db('sdl').collection('schema_history').find({}, { sort: { _id: 1 } }).toArray();
      const statements = history.map((h) => String(h['statement']).replace(/`/g, ''));
      for (const sql of steps.filter((s) => /^(ALTER|CREATE|RENAME|DROP|TRUNCATE)/.test(s))) {
        assert.ok(statements.some((s) => s.includes(sql.split(' ').slice(0, 3).join(' '))), `schema_history lacks ${sql}`);
      }
      // Rows before the ADD COLUMN decoded with two columns, rows after with three.
      const first = await client.db('sdl').collection('row_changes').findOne({ db: 'ddl', table: 'a', op: 'insert' }, { sort: { seq: 1 } });
      assert.deepEqual(Object.keys((first?.['after'] ?? {}) as object).sort(), ['id', 'v']);
    } finally {
      await client.close();
    }
  });

  for (const point of ['after-stage', 'after-apply'] as const) {
    it(`a crash ${point.replace('-', ' ')} is repaired on the next start`, async () => {
      const { conn, workload } = await shopWorkload(stack, point === 'after-stage' ? 53 : 59);
      await workload.run(60);
      // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
      await streamWholeBinlog(stack, point);
      const crashing = new SdlProcess(stack.scratch, stack, { pipeline: point, include: 'shop', name: `${point}-crash`, env: { SDL_FAULT: point } });
      crashing.start();
      assert.equal(await crashing.exited(), 137, crashing.logs().slice(-2000));
      const client = new MongoClient(stack.mongo.url);
      const pending = await client.db('sdl').collection('row_changes_staging').countDocuments({ status: 'pending' });
      await client.close();
      assert.ok(pending > 0, 'the crash left a staged batch pending');
      await workload.run(20);
      const recovering = new SdlProcess(stack.scratch, stack, { pipeline: point, include: 'shop', name: `${point}-recover` });
      recovering.start();
      await waitForCatchUp(stack, point, 120_000, recovering);
      assert.equal(await recovering.stop(), 0);
      assert.ok(recovering.lines().some((l) => String(l['msg']).includes('re-applied staged batches')), 'recovery re-applied the pending batch');
      await assertLossless(stack, workload.stats, { pipeline: point, include: 'shop' });
      await conn.end();
    });
  }
});
