import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import ZongJi, { type AnyBinlogEvent, type WriteRowsEvent } from '@vlasky/zongji';
import { startStack, type Stack } from '../support/stack.js';

/** What the binlog reader is built on: zongji must hand over values exactly as MariaDB holds them. */
describe('zongji against the test MariaDB', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('delivers exact DECIMAL, BIGINT UNSIGNED max, DATETIME(6), JSON, SET and BLOB values', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE zv;
      CREATE TABLE zv.t (
        id INT PRIMARY KEY,
        dec_col DECIMAL(30,10),
        ubig BIGINT UNSIGNED,
        dt DATETIME(6),
        js JSON,
        st SET('x','y','z'),
        bl BLOB
      );
      INSERT INTO zv.t VALUES (1, '12345678901234567890.0123456789', 18446744073709551615,
        '2024-01-02 03:04:05.123456', '{"a":[1,2,{"b":null}],"c":"ü"}', 'x,z', X'00FF10');`);
    await conn.end();

    const zongji = new ZongJi({ host: '127.0.0.1', port: stack.mariadb.port, user: 'root', password: '', dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
    const rows = await new Promise<Record<string, unknown>[]>((resolve, reject) => {
      zongji.on('error', reject);
      zongji.on('binlog', (e: AnyBinlogEvent) => {
        if (e.getEventName() === 'writerows') resolve((e as WriteRowsEvent).rows);
      });
      zongji.start({ serverId: 1001, gtidSet: '', includeEvents: ['tablemap', 'writerows'], includeSchema: { zv: ['t'] } });
    });
    zongji.stop();

    assert.equal(rows.length, 1);
    const row = rows[0];
    assert.equal(row['id'], 1);
    assert.equal(row['dec_col'], '12345678901234567890.0123456789');
    assert.equal(String(row['ubig']), '18446744073709551615');
    assert.equal(row['dt'], '2024-01-02 03:04:05.123456');
    // MariaDB stores JSON as LONGTEXT: the binlog carries the text as written.
    assert.deepEqual(JSON.parse(String(row['js'])), { a: [1, 2, { b: null }], c: 'ü' });
    assert.equal(row['st'], 'x,z');
    assert.ok(Buffer.isBuffer(row['bl']));
    assert.deepEqual(row['bl'], Buffer.from([0x00, 0xff, 0x10]));
  });
});
