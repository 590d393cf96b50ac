import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SdlError } from '../../src/errors.js';
import { tableSchema, type BinlogColumn } from '../../src/mysql/table-schema.js';

const id: BinlogColumn = { name: 'id', type: 3, charset: null };

describe('TableMap columns → schema', () => {
  it('MariaDB COMPRESSED columns (140 BLOB, 141 VARCHAR): text with a charset, binary without', () => {
    const s = tableSchema('db', 't', [
      id,
      { name: 'tc', type: 140, charset: 'latin1' },
      { name: 'bc', type: 140, charset: null },
      { name: 'vc', type: 141, charset: 'utf8mb4' },
      { name: 'vb', type: 141, charset: null },
    ], [0], new Set());
    assert.deepEqual(s.columns.map((c) => [c.name, c.kind, c.charset]), [
      ['id', 'int', undefined], ['tc', 'string', 'latin1'], ['bc', 'binary', undefined], ['vc', 'string', undefined], ['vb', 'binary', undefined],
    ]);
  });

  it('an unknown binlog type code or an undecodable charset is a permanent UNSUPPORTED_COLUMN naming db.table.column', () => {
    const refused = (col: BinlogColumn, what: RegExp): void => {
      assert.throws(() => tableSchema('shop', 'orders', [id, col], [0], new Set()), (err: unknown) => {
        assert.ok(err instanceof SdlError);
        assert.equal(err.code, 'UNSUPPORTED_COLUMN');
        assert.equal(err.errorClass, 'permanent');
        assert.match(err.message, what);
        assert.match(err.hint ?? '', /re-snapshot `shop\.orders`: .*sdl run --resnapshot/);
        return true;
      });
    };
    refused({ name: 'v', type: 200, charset: null }, /^shop\.orders\.v: binlog column type 200 /);
    refused({ name: 'w', type: 15, charset: 'big5' }, /^shop\.orders\.w: character set big5 /);
    refused({ name: 'e', type: 247, charset: 'unknown (collation id 4000)' }, /^shop\.orders\.e: character set unknown \(collation id 4000\)/);
  });
});
