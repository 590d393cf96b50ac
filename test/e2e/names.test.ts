import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { streamWholeBinlog } from '../support/binlog.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';

const LONG_DB = `db_${'x'.repeat(61)}`;
const LONG_TABLE = `t${'y'.repeat(63)}`;

/** Source names MongoDB or FerretDB refuse, or that collide with sdl's own fields, against `sdl run`. */
describe('sdl run: names MongoDB refuses', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('replicates `t$1`, a 64-character table in a 64-character database, databases `my-db` and `d$*b`, and columns `_id`, `_sdl`, `a.b`, `$x`; restarts cleanly', async () => {
    assert.equal(LONG_DB.length, 64);
    assert.equal(LONG_TABLE.length, 64);
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE names; CREATE DATABASE \`${LONG_DB}\`; CREATE DATABASE \`my-db\`; CREATE DATABASE \`d$*b\`;
      CREATE TABLE \`d$*b\`.\`x\` (id INT PRIMARY KEY); INSERT INTO \`d$*b\`.x VALUES (1), (2);
      CREATE TABLE names.\`t$1\` (id INT PRIMARY KEY, \`_id\` VARCHAR(10), \`_sdl\` INT, \`a.b\` INT, \`$x\` DATETIME(6), \`a-b\` INT);
      CREATE TABLE names.k (\`a.b\` INT NOT NULL, \`$x\` DATETIME(6) NOT NULL, \`_id\` INT, PRIMARY KEY (\`a.b\`, \`$x\`));
      CREATE TABLE \`${LONG_DB}\`.\`${LONG_TABLE}\` (id INT PRIMARY KEY, v INT);
      CREATE TABLE \`my-db\`.\`x-y\` (id INT PRIMARY KEY, v INT);
      INSERT INTO names.\`t$1\` VALUES (1, 'theirs', 7, 8, '2024-01-02 03:04:05.123456', 9), (2, NULL, NULL, NULL, NULL, NULL);
      INSERT INTO names.k VALUES (1, '2024-01-02 03:04:05.000001', 10), (1, '2024-01-02 03:04:05.000002', 11);
      INSERT INTO \`${LONG_DB}\`.\`${LONG_TABLE}\` VALUES (1, 1), (2, 2);
      INSERT INTO \`my-db\`.\`x-y\` VALUES (1, 1);`);
    const include = `names,${LONG_DB},my-db,d$*b`;
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'names');
    const first = new SdlProcess(stack.scratch, stack, { pipeline: 'names', include, name: 'names-1' });
    first.start();
    try {
      await waitForCatchUp(stack, 'names', 120_000, first);
    } finally {
      assert.equal(await first.stop(), 0, first.logs().slice(-3000));
    }
    // Later writes must find the documents the first run wrote, after a restart.
    await conn.query(`UPDATE names.\`t$1\` SET \`_id\` = 'changed', \`$x\` = '2025-01-01 00:00:00.000001' WHERE id = 1;
      DELETE FROM names.\`t$1\` WHERE id = 2;
      UPDATE names.k SET \`_id\` = 12 WHERE \`$x\` = '2024-01-02 03:04:05.000002';
      UPDATE \`${LONG_DB}\`.\`${LONG_TABLE}\` SET v = 20 WHERE id = 2;
      DELETE FROM \`my-db\`.\`x-y\` WHERE id = 1;
      CREATE TABLE names.\`r$1\` (id INT PRIMARY KEY, v INT); INSERT INTO names.\`r$1\` VALUES (1, 1);
      RENAME TABLE names.\`r$1\` TO names.\`r$2\`;
      INSERT INTO names.\`r$2\` VALUES (2, 2);`);
    const second = new SdlProcess(stack.scratch, stack, { pipeline: 'names', include, name: 'names-2' });
    second.start();
    let report;
    try {
      await waitForCatchUp(stack, 'names', 120_000, second);
      report = await assertMirrorsEqual(stack, ['names', LONG_DB, 'my-db', 'd$*b']);
    } finally {
      assert.equal(await second.stop(), 0, second.logs().slice(-3000));
    }
    assert.deepEqual(report.tables.map((t) => [t.table, t.sourceRows, t.mirrorDocs]).sort(), [['k', 2, 2], [LONG_TABLE, 2, 2], ['r$2', 2, 2], ['t$1', 1, 1], ['x', 2, 2], ['x-y', 0, 0]].sort());
    assert.deepEqual(await eventCounts(stack, 'names', 't$1'), { insert: 2, update: 1, delete: 1 });
    await conn.end();

    const client = new MongoClient(stack.mongo.url);
    try {
      const doc = await client.db('names').collection('t-241').findOne({});
      assert.equal(doc?.['_id'], 1);
      assert.equal(doc?.['-5fid'], 'changed');
      assert.equal(doc?.['-5fsdl'], 7);
      assert.equal(doc?.['a-2eb'], 8);
      assert.equal(doc?.['-24x'] instanceof Date, true);
      assert.equal(doc?.['a-2db'], 9);
      assert.deepEqual((doc?.['_sdl'] as { raw?: unknown }).raw, { '-24x': '2025-01-01 00:00:00.000001' });
      const k = await client.db('names').collection('k').find({}).toArray();
      // A composite `_id` keeps the key order with mapped field names; DATETIME(6) parts are their exact text.
      assert.deepEqual(k.map((d) => JSON.stringify(d['_id'])).sort(), [
        JSON.stringify({ 'a-2eb': 1, '-24x': '2024-01-02 03:04:05.000001' }),
        JSON.stringify({ 'a-2eb': 1, '-24x': '2024-01-02 03:04:05.000002' }),
      ]);
      const dbs = ((await client.db('admin').command({ listDatabases: 1, nameOnly: true }))['databases'] as { name: string }[]).map((d) => d.name);
      const long = dbs.find((d) => d.startsWith('db_x'));
      assert.ok(long !== undefined && Buffer.byteLength(long) <= 63 && /--[0-9a-f]{16}$/.test(long), `long database mapped: ${String(long)}`);
      assert.ok(dbs.includes('my-2ddb'));
      assert.ok(dbs.includes('d-24-2ab'));
      // RENAME TABLE moved the mapped collection.
      const colls = (await client.db('names').listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
      assert.deepEqual(colls, ['k', 'r-242', 't-241']);
    } finally {
      await client.close();
    }
  });

  it('refuses to start (exit 2) when two included databases differ only by case, naming both', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE CaseDb; CREATE DATABASE casedb; CREATE TABLE CaseDb.t (id INT PRIMARY KEY); CREATE TABLE casedb.t (id INT PRIMARY KEY)');
    await conn.end();
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'case', include: 'CaseDb,casedb', name: 'case' });
    sdl.start();
    assert.equal(await sdl.exited(), 2, sdl.logs().slice(-3000));
    const fatal = sdl.lines().find((l) => l['level'] === 60);
    assert.match(String(fatal?.['msg']), /differ only by case/);
    assert.match(String(fatal?.['msg']), /source database `CaseDb`/);
    assert.match(String(fatal?.['msg']), /source database `casedb`/);
  });
});
