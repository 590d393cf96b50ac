import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Binary, Long, MongoClient } from 'mongodb';
import { probeCapabilities } from '../../src/mongo/capabilities.js';
import { startStack, type Stack } from '../support/stack.js';

describe('test servers', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('runs MariaDB with the row binlog and full metadata', async () => {
    const conn = await stack.mariadb.connect();
    try {
      const [rows] = await conn.query(
        "SELECT @@log_bin AS log_bin, @@binlog_format AS fmt, @@binlog_row_image AS img, @@binlog_row_metadata AS meta",
      );
      assert.deepEqual((rows as Record<string, unknown>[])[0], { log_bin: '1', fmt: 'ROW', img: 'FULL', meta: 'FULL' });
    } finally {
      await conn.end();
    }
  });

  it('round-trips documents through the mongodb driver with their BSON types', async () => {
    const client = new MongoClient(stack.mongo.url);
    try {
      const coll = client.db('harness').collection<{ _id: string } & Record<string, unknown>>('roundtrip');
      const doc = { _id: 'a', i: 42, l: Long.fromString('9007199254740993'), s: 'ünïcödé ✓', d: new Date('2024-01-02T03:04:05.123Z'), b: new Binary(Buffer.from([0, 1, 255])), nested: { x: [1, 'two'] } };
      await coll.insertOne(doc);
      const back = await coll.findOne({ _id: 'a' }, { promoteLongs: false });
      assert.ok(back);
      assert.ok(back['l'] instanceof Long);
      assert.equal((back['l']).toString(), '9007199254740993');
      assert.equal(back['s'], doc.s);
      assert.equal((back['d'] as Date).toISOString(), '2024-01-02T03:04:05.123Z');
      assert.ok(back['b'] instanceof Binary);
      assert.deepEqual(Buffer.from((back['b']).buffer), Buffer.from([0, 1, 255]));
      assert.deepEqual(back['nested'], { x: [1, 'two'] });
    } finally {
      await client.close();
    }
  });

  it('probes server capabilities from its answers', async () => {
    const client = new MongoClient(stack.mongo.url);
    try {
      const caps = await probeCapabilities(client, client.db('sdl_probe'));
      if (caps.ferretdb !== undefined) {
        // FerretDB 1.x: a standalone without sessions, Decimal128 or nested arrays.
        assert.deepEqual(
          { transactions: caps.transactions, decimal128: caps.decimal128, nestedArrays: caps.nestedArrays, dottedKeys: caps.dottedKeys },
          { transactions: false, decimal128: false, nestedArrays: false, dottedKeys: false },
        );
      } else {
        // A real MongoDB stores both types; transactions depend on its topology.
        assert.equal(caps.decimal128, true);
        assert.equal(caps.nestedArrays, true);
        const hello = await client.db('admin').command({ hello: 1 });
        assert.equal(caps.transactions, typeof hello['setName'] === 'string');
      }
    } finally {
      await client.close();
    }
  });
});
