import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual } from '../support/verify.js';

/** Table kinds beyond the plain InnoDB table, each written while sdl streams. */
describe('table kinds', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('generated, invisible and partitioned tables mirror exactly', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE tk;
      CREATE TABLE tk.gen (id INT PRIMARY KEY, a INT, v INT AS (a * 2) VIRTUAL, p VARCHAR(20) AS (CONCAT('x', a)) PERSISTENT);
      CREATE TABLE tk.inv (id INT PRIMARY KEY, a INT, h INT INVISIBLE DEFAULT 7);
      CREATE TABLE tk.part (id INT PRIMARY KEY, a VARCHAR(10)) PARTITION BY HASH(id) PARTITIONS 3;`);
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'tk', include: 'tk' });
    sdl.start();
    try {
      await waitForCatchUp(stack, 'tk', 120_000, sdl);
      for (let i = 1; i <= 20; i++) {
        await conn.query('INSERT INTO tk.gen (id, a) VALUES (?, ?)', [i, i * 10]);
        await conn.query('INSERT INTO tk.inv (id, a, h) VALUES (?, ?, ?)', [i, i, i * 3]);
        await conn.query('INSERT INTO tk.part VALUES (?, ?)', [i, `r${i}`]);
      }
      await conn.query('UPDATE tk.gen SET a = a + 1 WHERE id % 3 = 0');
      await conn.query('UPDATE tk.inv SET h = 0 WHERE id % 4 = 0');
      await conn.query('UPDATE tk.part SET id = id + 100 WHERE id % 5 = 0');
      await conn.query('DELETE FROM tk.gen WHERE id = 2');
      await conn.query('ALTER TABLE tk.part REORGANIZE PARTITION p0 INTO (PARTITION p0)');
      await conn.query('INSERT INTO tk.part VALUES (1000, "after")');
      await waitForCatchUp(stack, 'tk', 120_000, sdl);
      await assertMirrorsEqual(stack, ['tk']);
    } finally {
      await conn.end();
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    }
  });

  it('a system-versioned table mirrors every row version, as FOR SYSTEM_TIME ALL shows it', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE tv;
      CREATE TABLE tv.v (id INT PRIMARY KEY, a INT) WITH SYSTEM VERSIONING;`);
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'tv', include: 'tv' });
    sdl.start();
    try {
      await waitForCatchUp(stack, 'tv', 120_000, sdl);
      for (let i = 1; i <= 10; i++) await conn.query('INSERT INTO tv.v VALUES (?, ?)', [i, i]);
      await conn.query('UPDATE tv.v SET a = a + 100 WHERE id <= 5');
      await conn.query('DELETE FROM tv.v WHERE id IN (1, 9)');
      await waitForCatchUp(stack, 'tv', 120_000, sdl);
      await assertMirrorsEqual(stack, ['tv']);
      // The mirror holds the table as stored: every version, keyed by the key and row_end.
      const [[all]] = await conn.query('SELECT COUNT(*) AS n FROM tv.v FOR SYSTEM_TIME ALL') as unknown as [[{ n: number }]];
      const [[current]] = await conn.query('SELECT COUNT(*) AS n FROM tv.v') as unknown as [[{ n: number }]];
      const client = new MongoClient(stack.mongo.url);
      try {
        const mirror = client.db('tv').collection('v');
        assert.equal(await mirror.countDocuments({}), Number(all.n));
        assert.equal(await mirror.countDocuments({ '_id.row_end': '2038-01-19 03:14:07.999999' }), Number(current.n));
        assert.equal(Number(current.n), 8);
      } finally {
        await client.close();
      }
    } finally {
      await conn.end();
      const code = await sdl.stop();
      assert.equal(code, 0, sdl.logs().slice(-3000));
    }
  });
});
