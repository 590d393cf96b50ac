import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay } from '../../src/machines/backoff.js';
import { batchEnd, isFull, type Part, takeBatch, toParts } from '../../src/pipeline/batching.js';
import type { SourceTransaction } from '../../src/pipeline/types.js';

const limits = { maxRows: 4, maxBytes: 1000 };

function txn(n: number, rows: number, bytes = rows * 100): SourceTransaction {
  const changes = Array.from({ length: rows }, (_, i) => ({ op: 'insert' as const, schema: 0, before: null, after: {}, id: `t${n}#${i}`, seq: `${n}:${i}` }));
  const t: SourceTransaction = { gtid: `0-1-${n}`, ts: n, end: { file: 'b.1', pos: n }, schemas: [], changes, bytes };
  if (rows === 0) t.ddl = { db: 'app', statement: 'ALTER TABLE t ADD c INT' };
  return t;
}

describe('toParts', () => {
  it('keeps a transaction within maxRows whole', () => {
    const parts = toParts(txn(1, 4), 4);
    assert.equal(parts.length, 1);
    assert.deepEqual(parts[0]?.end, { file: 'b.1', pos: 1 });
  });

  it('splits a larger one in order; only the last chunk carries the end', () => {
    const parts = toParts(txn(1, 9, 900), 4);
    assert.deepEqual(parts.map((p) => p.changes.length), [4, 4, 1]);
    assert.deepEqual(parts.map((p) => p.end?.pos), [undefined, undefined, 1]);
    assert.deepEqual(parts.flatMap((p) => p.changes.map((c) => c.id)), txn(1, 9).changes.map((c) => c.id));
    assert.ok(parts.reduce((n, p) => n + p.bytes, 0) >= 900);
  });

  it('CREATE TABLE … SELECT larger than a batch: the first chunk carries the DDL, alone in its batch, before any row', () => {
    const t = txn(1, 9, 900);
    t.ddl = { db: 'app', statement: 'CREATE TABLE t (PRIMARY KEY (id)) SELECT * FROM s' };
    const parts = toParts(t, 4);
    assert.deepEqual(parts.map((p) => p.ddl?.statement), [t.ddl.statement, undefined, undefined]);
    const { batch } = takeBatch(parts, limits);
    assert.deepEqual(batch.map((p) => p.changes[0]?.id), ['t1#0']);
  });
});

describe('takeBatch and isFull', () => {
  const parts = (...ts: SourceTransaction[]): Part[] => ts.flatMap((t) => toParts(t, limits.maxRows));

  it('fills up to maxRows at transaction boundaries', () => {
    const { batch, rest } = takeBatch(parts(txn(1, 2), txn(2, 2), txn(3, 1)), limits);
    assert.deepEqual(batch.map((p) => p.end?.pos), [1, 2]);
    assert.deepEqual(rest.map((p) => p.end?.pos), [3]);
  });

  it('closes on bytes, but always takes at least one part', () => {
    assert.equal(takeBatch(parts(txn(1, 1, 600), txn(2, 1, 600)), limits).batch.length, 1);
    assert.equal(takeBatch(parts(txn(1, 1, 5000)), limits).batch.length, 1);
  });

  it('never mixes a DDL with rows', () => {
    const open = parts(txn(1, 1), txn(2, 0), txn(3, 1));
    const first = takeBatch(open, limits);
    assert.deepEqual(first.batch.map((p) => p.end?.pos), [1]);
    const second = takeBatch(first.rest, limits);
    assert.deepEqual(second.batch.map((p) => p.ddl !== undefined), [true]);
    assert.deepEqual(takeBatch(second.rest, limits).batch.map((p) => p.end?.pos), [3]);
  });

  it('is full at a limit or with a DDL, and not before', () => {
    assert.equal(isFull(parts(txn(1, 3)), limits), false);
    assert.equal(isFull(parts(txn(1, 4)), limits), true);
    assert.equal(isFull(parts(txn(1, 1, 1000)), limits), true);
    assert.equal(isFull(parts(txn(1, 0)), limits), true);
    assert.equal(takeBatch([], limits).batch.length, 0);
  });
});

describe('batchEnd', () => {
  it('is the last complete transaction end, or undefined for a middle chunk', () => {
    const chunks = toParts(txn(7, 9), 4);
    assert.equal(batchEnd(chunks.slice(0, 2)), undefined);
    assert.deepEqual(batchEnd([...toParts(txn(6, 1), 4), ...chunks.slice(0, 1)]), { file: 'b.1', pos: 6 });
    assert.deepEqual(batchEnd(chunks), { file: 'b.1', pos: 7 });
    assert.equal(batchEnd([]), undefined);
  });
});

describe('backoffDelay', () => {
  it('is full jitter: 0 up to (not including) base·2^attempt', () => {
    assert.equal(backoffDelay(3, 100, 30_000, () => 0), 0);
    assert.equal(backoffDelay(3, 100, 30_000, () => 0.999999), 799);
    assert.equal(backoffDelay(0, 100, 30_000, () => 0.5), 50);
  });

  it('is capped, even for huge attempt counts', () => {
    assert.equal(backoffDelay(10, 100, 30_000, () => 0.999999), 29_999);
    assert.equal(backoffDelay(10_000, 100, 30_000, () => 0.999999), 29_999);
    for (let a = 0; a < 100; a++) {
      const d = backoffDelay(a, 500, 30_000);
      assert.ok(d >= 0 && d < 30_000 && Number.isInteger(d));
    }
  });
});
