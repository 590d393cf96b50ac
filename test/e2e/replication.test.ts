import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Binary, Double, Int32, Long, MongoClient } from 'mongodb';
import { ALL_TYPES_SQL } from '../support/all-types.js';
import { streamWholeBinlog } from '../support/binlog.js';
import { shopEventCounts } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';
import { WORKLOAD_SCHEMA, Workload } from '../support/workload.js';

/** `sdl run` as an operator runs it, against a real MariaDB and a real MongoDB-wire server. */
describe('sdl run: streaming replication', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('mirrors every column type exactly and writes the event log', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`${ALL_TYPES_SQL}
      UPDATE types.t SET v = 'updated' WHERE id = 3;
      DELETE FROM types.t WHERE id = 2;`);
    await conn.end();

    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'types');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'types', include: 'types' });
    sdl.start();
    try {
      await waitForCatchUp(stack, 'types', 120_000, sdl);
      await assertMirrorsEqual(stack, ['types']);
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    }

    const client = new MongoClient(stack.mongo.url);
    try {
      const docs = client.db('types').collection<{ _id: number } & Record<string, unknown>>('t');
      const one = await docs.findOne({ _id: 1 }, { promoteValues: false, promoteLongs: false });
      assert.ok(one);
      assert.ok(one['i'] instanceof Int32);
      assert.ok(one['b'] instanceof Long);
      assert.equal((one['b']).toString(), '-9223372036854775808');
      assert.ok(one['f'] instanceof Double && one['d'] instanceof Double);
      assert.ok(one['bl'] instanceof Binary);
      assert.deepEqual(Buffer.from((one['bl']).buffer), Buffer.from('DEADBEEF', 'hex'));
      assert.equal(one['v'], 'héllo wörld ✓ 😀');
      assert.equal(one['l1'], 'café');
      assert.deepEqual(one['s'], ['x', 'z']);
      assert.equal(one['tm'], '-838:59:59.000000');
      const sdlMeta = one['_sdl'] as { raw?: Record<string, string>; h?: string };
      assert.equal(sdlMeta.raw?.['dt6'], '2024-01-02 03:04:05.123456');
      assert.equal((one['dt6'] as Date).toISOString(), '2024-01-02T03:04:05.123Z');
      assert.equal(typeof sdlMeta.h, 'string');
      // Decimal128 where the server has it (nearest value, exact text in raw); the exact text where it has not.
      const exactDec2 = '12345678901234567890123456789012345.123456789012345678901234567891';
      if (typeof one['dec2'] === 'string') assert.equal(one['dec2'], exactDec2);
      else assert.equal(sdlMeta.raw?.['dec2'], exactDec2);
      const zero = await docs.findOne({ _id: 4 });
      assert.ok(zero);
      assert.equal(zero['da'], null);
      assert.equal((zero['_sdl'] as { raw: Record<string, string> }).raw['da'], '0000-00-00');
      assert.equal(await docs.countDocuments({ _id: 2 }), 0);
      assert.deepEqual(await eventCounts(stack, 'types', 't'), { insert: 4, update: 1, delete: 1 });
    } finally {
      await client.close();
    }
  });

  it('replicates a mixed workload with key changes, composite keys, keyless tables and excludes', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(WORKLOAD_SCHEMA);
    await conn.query('CREATE DATABASE hidden; CREATE TABLE hidden.secret (id INT PRIMARY KEY, v TEXT); INSERT INTO hidden.secret VALUES (1, "x")');
    const workload = new Workload(conn, 7);
    await workload.run(150);
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'shop');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'shop', include: 'shop' });
    sdl.start();
    try {
      await workload.run(150);
      await conn.query('INSERT INTO hidden.secret VALUES (2, "y")');
      await waitForCatchUp(stack, 'shop', 120_000, sdl);
      await assertMirrorsEqual(stack, ['shop']);
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
      await conn.end();
    }
    const client = new MongoClient(stack.mongo.url);
    try {
      assert.equal((await client.db('hidden').listCollections().toArray()).length, 0, 'excluded database was mirrored');
      assert.equal(await client.db('sdl').collection('row_changes').countDocuments({ db: 'hidden' }), 0);
      assert.equal(await client.db('shop').collection('audit').countDocuments(), 0, 'keyless table got a mirror');
      const counted = await shopEventCounts(stack);
      assert.deepEqual(counted, { insert: workload.stats.inserts, update: workload.stats.updates, delete: workload.stats.deletes });
    } finally {
      await client.close();
    }
    const warnings = sdl.lines().filter((l) => String(l['msg']).includes('no primary') && l['table'] === 'audit');
    assert.equal(warnings.length, 1, 'one warning for the keyless table');
  });
});
