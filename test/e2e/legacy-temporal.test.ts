import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { streamWholeBinlog } from '../support/binlog.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual } from '../support/verify.js';

/**
 * Temporal columns in MariaDB's pre-10.0 ("5.3 hires") format, which a server upgraded in place
 * still holds and which `mysql56_temporal_format = OFF` still creates. Their TableMap cannot tell
 * them apart from the classic types, so zongji pauses the binlog connection and reads the
 * columns from information_schema (the path whose resume used to end a backpressure pause).
 */
describe('temporal columns of the MariaDB 5.3 format', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('mirror exactly, as values and as key parts, through the column fetch', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('SET GLOBAL mysql56_temporal_format = OFF');
    try {
      await conn.query(`CREATE DATABASE lt;
        CREATE TABLE lt.t (k DATETIME(6) NOT NULL PRIMARY KEY, d0 DATETIME, d3 DATETIME(3), t2 TIME(2), t6 TIME(6), ts4 TIMESTAMP(4) NULL, n INT);
        CREATE TABLE lt.u (id INT PRIMARY KEY, t1 TIME(1))`);
      const [cols] = await conn.query("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'lt' AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION");
      assert.ok((cols as unknown[]).length === 7);
      await conn.query("SET SESSION time_zone = '+00:00'");
      const rows = [
        ["'2024-01-02 03:04:05.123456'", "'2024-01-02 03:04:05'", "'1999-12-31 23:59:59.999'", "'-838:59:59.99'", "'12:34:56.000001'", "'2038-01-19 03:14:07.9999'", 1],
        ["'1000-01-01 00:00:00.000001'", "'9999-12-31 23:59:59'", "'2000-02-29 12:00:00.5'", "'00:00:00.01'", "'-00:00:00.5'", "'1970-01-01 00:00:01.0001'", 2],
        ["'2024-06-30 23:59:59.999999'", 'NULL', 'NULL', 'NULL', "'838:59:59'", 'NULL', 3],
      ];
      for (const r of rows) await conn.query(`INSERT INTO lt.t VALUES (${r.join(', ')})`);
      await conn.query("INSERT INTO lt.u VALUES (1, '10:00:00.1'), (2, '-00:00:01.9')");
      await conn.query("UPDATE lt.t SET t6 = '01:02:03.456789', n = 20 WHERE k = '1000-01-01 00:00:00.000001'");
      await conn.query("DELETE FROM lt.t WHERE n = 3");
      await conn.query("UPDATE lt.u SET t1 = '-12:00:00.3' WHERE id = 2");
    } finally {
      await conn.query('SET GLOBAL mysql56_temporal_format = ON');
      await conn.end();
    }
    // The fetch happens only when the binlog is read: stream it rather than snapshot.
    await streamWholeBinlog(stack, 'lt');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'lt', include: 'lt' });
    sdl.start();
    try {
      await waitForCatchUp(stack, 'lt', 120_000, sdl);
      await assertMirrorsEqual(stack, ['lt']);
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    }
  });
});
