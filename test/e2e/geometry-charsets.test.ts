import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { streamWholeBinlog } from '../support/binlog.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual } from '../support/verify.js';

/**
 * Found by the generative suite: MariaDB's TableMap lists a charset for a GEOMETRY column and
 * zongji's own metadata reader does not, so every text column after a POINT took the charset of
 * the one before it (a utf8mb4 CHAR became Binary, latin1 text U+FFFD), silently.
 */
describe('text columns after a GEOMETRY column', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('keep their own charsets', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE geo;
      CREATE TABLE geo.t (id INT PRIMARY KEY, p POINT, c CHAR(3) CHARACTER SET utf8mb4, l VARCHAR(8) CHARACTER SET latin1, g2 POINT NULL, u VARCHAR(8) CHARACTER SET utf8mb4, b VARBINARY(4))`);
    await conn.query("INSERT INTO geo.t VALUES (1, POINT(1, 2), 'é✓😀', _latin1 X'E98190', POINT(3, 4), 'ü', X'00FF'), (2, NULL, 'abc', 'café', NULL, 'x', NULL)");
    await conn.end();
    // The rows must come through the binlog decoder (a snapshot reads them with SELECT).
    await streamWholeBinlog(stack, 'geo');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'geo', include: 'geo' });
    sdl.start();
    const client = new MongoClient(stack.mongo.url);
    try {
      await waitForCatchUp(stack, 'geo', 120_000, sdl);
      await assertMirrorsEqual(stack, ['geo']);
      const one = await client.db('geo').collection<{ _id: number; c: unknown; l: unknown; u: unknown }>('t').findOne({ _id: 1 });
      assert.equal(one?.c, 'é✓😀');
      assert.equal(one?.l, 'é\u0081\u0090');
      assert.equal(one?.u, 'ü');
    } finally {
      await client.close();
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-2000));
    }
  });
});
