import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mariadbTracker } from '../../src/mysql/gtid.js';
import { IncludeFilter } from '../../src/mysql/include-filter.js';
import { TransactionAssembler } from '../../src/mysql/transaction-assembler.js';
import { rowBytes, rowChangeBytes } from '../../src/pipeline/held-bytes.js';
import type { RowChange, SourceTransaction } from '../../src/pipeline/types.js';

const change = (before: RowChange['before'], after: RowChange['after']): RowChange => ({ op: 'update', schema: 0, before, after, id: '0-1-5#0', seq: '0001:0000000256:000000' });

describe('held bytes: what a row change costs on the heap, from its values', () => {
  it('grows with the text and binary a row holds, by at least their size', () => {
    const small = rowBytes({ id: 1, v: 'x' });
    const text = rowBytes({ id: 1, v: 'x'.repeat(10_001) });
    const bin = rowBytes({ id: 1, v: Buffer.alloc(10_000) });
    assert.ok(text - small >= 10_000, `10k more characters counted ${text - small}`);
    assert.ok(bin - small >= 10_000, `10k more bytes counted ${bin - small}`);
  });

  it('counts every column, nested JSON-like values and dates, and nothing for a missing image', () => {
    assert.equal(rowBytes(null), 0);
    assert.ok(rowBytes({ a: 1, b: 2, c: 3 }) > rowBytes({ a: 1 }));
    assert.ok(rowBytes({ a: [1, 2, { k: 'v' }] }) > rowBytes({ a: [] }));
    assert.ok(rowBytes({ a: new Date(0) }) > rowBytes({ a: null }));
  });

  it('an update holds both images', () => {
    const row = { id: 7, name: 'seven' };
    assert.equal(rowChangeBytes(change(row, row)) - rowChangeBytes(change(null, row)), rowBytes(row));
  });
});

describe('the assembler accounts a transaction from the rows it holds, not from binlog bytes', () => {
  it('a transaction\'s bytes are its changes\' held bytes, however small the event said it was', () => {
    const txns: SourceTransaction[] = [];
    const a = new TransactionAssembler({ file: 'binlog.000001', pos: 4, gtid: '0-1-1' }, new IncludeFilter(['d']), mariadbTracker('0-1-1'),
      { transaction: (t) => txns.push(t), heartbeat: () => undefined }, () => new Set());
    a.push({ kind: 'rotate', file: 'binlog.000001', position: 4 });
    a.push({ kind: 'begin', gtid: '0-1-2', standalone: false, nextPosition: 100, timestamp: 1 });
    a.push({ kind: 'tablemap', tableId: 9, db: 'd', table: 't', columns: [{ name: 'id', type: 3, charset: null }, { name: 'v', type: 252, charset: 'utf8mb4' }], primaryKey: [0] });
    // `size` is what the binlog event said; a compressed or tiny event must not hide a big row.
    const rows = [{ id: 1, v: 'a'.repeat(100_000) }, { id: 2, v: 'b' }];
    a.push({ kind: 'rows', op: 'insert', tableId: 9, rows, size: 10, timestamp: 1, absent: [], nextPosition: 200 });
    a.push({ kind: 'commit', nextPosition: 300, timestamp: 1 });
    assert.equal(txns.length, 1);
    const txn = txns[0];
    const held = txn.changes.reduce((n, c) => n + rowChangeBytes(c), 0);
    assert.ok(held > 200_000, `two-byte-per-character strings: ${held}`);
    assert.ok(txn.bytes >= held, `transaction counted ${txn.bytes}, its rows hold ${held}`);
    assert.ok(txn.bytes < held + 1024, `only a small fixed cost on top: ${txn.bytes} vs ${held}`);
  });
});
