import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SdlError } from '../../src/errors.js';
import { mariadbTracker } from '../../src/mysql/gtid.js';
import { IncludeFilter } from '../../src/mysql/include-filter.js';
import { type AssemblerEvent, TransactionAssembler } from '../../src/mysql/transaction-assembler.js';
import { xidOf } from '../../src/mysql/txn-statements.js';
import { sliceBytesFor, takeBatch, toParts, type Part } from '../../src/pipeline/batching.js';
import { rowChangeBytes } from '../../src/pipeline/held-bytes.js';
import type { SourceTransaction } from '../../src/pipeline/types.js';

/** Event shapes as MariaDB 10.11 logs them (see transaction-assembler.test.ts), here with many rows. */
const FILE = 'binlog.000002';
const COLS = [
  { name: 'id', type: 3, charset: null },
  { name: 'v', type: 15, charset: 'utf8mb4' },
];

function harness(sliceBytes: number | undefined) {
  const txns: SourceTransaction[] = [];
  const lookups: string[][] = [];
  const a = new TransactionAssembler({ file: FILE, pos: 256, gtid: '0-1-10' }, new IncludeFilter(['d']), mariadbTracker('0-1-10'), {
    transaction: (t, asked) => {
      txns.push(t);
      lookups.push([...asked]);
    },
    heartbeat: () => undefined,
  }, () => undefined, sliceBytes === undefined ? {} : { sliceBytes });
  const push = (...events: AssemblerEvent[]): void => {
    for (const e of events) a.push(e);
  };
  push({ kind: 'rotate', file: FILE, position: 4 });
  return { a, txns, lookups, push };
}

const gtid = (seq: number, pos: number): AssemblerEvent => ({ kind: 'begin', gtid: `0-1-${seq}`, standalone: false, nextPosition: pos, timestamp: 1 });
const map = (tableId: number, db: string, table: string): AssemblerEvent => ({ kind: 'tablemap', tableId, db, table, columns: COLS, primaryKey: [0] });
/** One Write_rows event of `n` rows with ids from `from`. */
const inserts = (tableId: number, from: number, n: number, pos: number): AssemblerEvent => ({
  kind: 'rows', op: 'insert', tableId, rows: Array.from({ length: n }, (_, k) => ({ id: from + k, v: `value ${from + k}` })), size: 20 * n, timestamp: 1, absent: [], nextPosition: pos,
});
const query = (statement: string, pos: number, db = 'd'): AssemblerEvent => ({ kind: 'query', db, statement, nextPosition: pos, timestamp: 1 });
const xid = (pos: number): AssemblerEvent => ({ kind: 'commit', nextPosition: pos, timestamp: 1 });

/** Bytes the assembler counts for one row of `inserts`: slices are sized in these. */
const ROW = rowChangeBytes({ op: 'insert', schema: 0, before: null, after: { id: 1, v: 'value 1' }, id: '0-1-11#1', seq: '0' });

/** A group of 100 rows in 10 events of 10, then a later one-row group. */
function bigGroup(): AssemblerEvent[] {
  const events: AssemblerEvent[] = [gtid(11, 1000), map(24, 'd', 'i')];
  for (let k = 0; k < 10; k++) events.push(inserts(24, k * 10, 10, 1100 + k * 100));
  events.push(xid(2200), gtid(12, 2300), map(24, 'd', 'i'), inserts(24, 1000, 1, 2400), xid(2500));
  return events;
}

const ids = (txns: SourceTransaction[]): string[] => txns.flatMap((t) => t.changes.map((c) => c.id));

describe('TransactionAssembler hands a transaction over its slice threshold on in slices', () => {
  it('slices an open transaction at the threshold, each row change once, in order, with the ids and seqs it has whole', () => {
    const whole = harness(undefined);
    whole.push(...bigGroup());
    const sliced = harness(25 * ROW);
    sliced.push(...bigGroup());
    assert.equal(whole.txns.length, 2);
    // 10 rows an event, a slice as soon as 25 rows' bytes are held: after events 3, 6 and 9, the rest at the commit.
    assert.deepEqual(sliced.txns.map((t) => [t.changes.length, t.slice]), [
      [30, { group: '0-1-11', open: true }], [30, { group: '0-1-11', open: true }], [30, { group: '0-1-11', open: true }],
      [10, { group: '0-1-11', open: false }], [1, undefined],
    ]);
    assert.deepEqual(ids(sliced.txns), ids(whole.txns));
    assert.deepEqual(sliced.txns.flatMap((t) => t.changes.map((c) => c.seq)), whole.txns.flatMap((t) => t.changes.map((c) => c.seq)));
    // Open slices end where the group began (nothing may move past it); the closing one at the group's end.
    for (const t of sliced.txns.slice(0, 3)) assert.deepEqual(t.end, { file: FILE, pos: 256, gtid: '0-1-10' });
    assert.deepEqual(sliced.txns[3]?.end, whole.txns[0]?.end);
    // Held bytes leave with each slice: the slices' sum is the whole's.
    assert.equal(sliced.txns.slice(0, 4).reduce((n, t) => n + t.bytes - 256, 0), (whole.txns[0]?.bytes ?? 0) - 256);
  });

  it('makes the same slices on a re-read', () => {
    const one = harness(17 * ROW);
    one.push(...bigGroup());
    const two = harness(17 * ROW);
    two.push(...bigGroup());
    assert.deepEqual(two.txns, one.txns);
  });

  it('asks for unknown JSON columns of a table once per group, with the slice that first carries its rows', () => {
    const h = harness(25 * ROW);
    h.push(...bigGroup());
    assert.deepEqual(h.lookups, [['d.i'], [], [], [], ['d.i']]);
  });

  it('never slices past a live SAVEPOINT: a logged ROLLBACK TO drops exactly the rows after it', () => {
    const events: AssemblerEvent[] = [gtid(11, 1000), map(24, 'd', 'i'), inserts(24, 0, 10, 1100), query('SAVEPOINT `s1`', 1150)];
    for (let k = 1; k <= 5; k++) events.push(inserts(24, k * 10, 10, 1100 + k * 100));
    events.push(query('ROLLBACK TO `s1`', 1700), inserts(24, 100, 10, 1800), xid(1900));
    const whole = harness(undefined);
    whole.push(...events);
    const sliced = harness(5 * ROW);
    sliced.push(...events);
    // The ten rows before the savepoint go at once; the fifty after it are held and dropped.
    assert.deepEqual(sliced.txns.map((t) => [t.changes.length, t.slice?.open]), [[10, true], [10, false]]);
    assert.deepEqual(ids(sliced.txns), ids(whole.txns));
    assert.deepEqual(sliced.txns.flatMap((t) => t.changes.map((c) => c.after?.['id'])), [...Array.from({ length: 10 }, (_, k) => k), ...Array.from({ length: 10 }, (_, k) => 100 + k)]);
  });

  it('slices again once a savepoint is released', () => {
    const h = harness(5 * ROW);
    h.push(gtid(11, 1000), map(24, 'd', 'i'), query('SAVEPOINT `s1`', 1050), inserts(24, 0, 10, 1100), query('RELEASE SAVEPOINT `s1`', 1150), inserts(24, 10, 10, 1200), xid(1300));
    assert.deepEqual(h.txns.map((t) => [t.changes.length, t.slice?.open]), [[20, true], [0, false]]);
  });

  it('a sliced group that ends in ROLLBACK stops the pipeline, counting every row it logged; none of it was closed', () => {
    const h = harness(25 * ROW);
    const events = bigGroup().slice(0, 12);
    assert.throws(() => h.push(...events, query('ROLLBACK', 2200)), (err: unknown) => {
      assert.ok(err instanceof SdlError, String(err));
      assert.equal(err.code, 'UNSUPPORTED_EVENT');
      assert.match(err.message, /logged 100 row changes on d\.i/);
      return true;
    });
    assert.ok(h.txns.length > 0);
    assert.ok(h.txns.every((t) => t.slice?.open === true), 'only open slices were handed on');
  });

  it('holds a MariaDB XA branch whole from its GTID event\'s flag (MariaDB logs no XA START)', () => {
    const X1 = xidOf(1, Buffer.from('x1'), Buffer.alloc(0));
    const h = harness(5 * ROW);
    h.push({ kind: 'begin', gtid: '0-1-11', standalone: false, nextPosition: 1000, timestamp: 1, xa: true }, map(24, 'd', 'i'), inserts(24, 0, 30, 1100),
      query("XA END X'7831',X'',1", 1150), { kind: 'xaprepare', xid: X1, onePhase: false, nextPosition: 1200, timestamp: 1 });
    assert.equal(h.txns.length, 0);
    h.push(gtid(12, 1300), query("XA COMMIT X'7831',X'',1", 1400));
    assert.deepEqual(h.txns.map((t) => [t.changes.length, t.slice]), [[30, undefined]]);
  });

  it('stops, rather than lose them, when an XA PREPARE ends a group whose rows were already sliced', () => {
    const X1 = xidOf(1, Buffer.from('x1'), Buffer.alloc(0));
    const h = harness(5 * ROW);
    h.push(gtid(11, 1000), map(24, 'd', 'i'), inserts(24, 0, 30, 1100), query("XA END X'7831',X'',1", 1150));
    assert.throws(() => h.push({ kind: 'xaprepare', xid: X1, onePhase: false, nextPosition: 1200, timestamp: 1 }), (err: unknown) => err instanceof SdlError && err.code === 'UNSUPPORTED_EVENT' && /XA branch/.test(err.message));
  });

  it('holds an XA branch whole: its rows are decided by an XA COMMIT in another group', () => {
    const X1 = xidOf(1, Buffer.from('x1'), Buffer.alloc(0));
    const h = harness(5 * ROW);
    h.push(gtid(11, 1000), query("XA START X'7831',X'',1", 1050), map(24, 'd', 'i'), inserts(24, 0, 30, 1100), query("XA END X'7831',X'',1", 1150),
      { kind: 'xaprepare', xid: X1, onePhase: false, nextPosition: 1200, timestamp: 1 });
    assert.equal(h.txns.length, 0);
    h.push(gtid(12, 1300), query("XA COMMIT X'7831',X'',1", 1400));
    assert.deepEqual(h.txns.map((t) => [t.changes.length, t.slice]), [[30, undefined]]);
  });
});

describe('batches of slices', () => {
  const part = (slice: Part['slice'], rows = 1, end = slice?.open === true ? undefined : { file: FILE, pos: 9 }): Part => ({
    gtid: '0-1-11', ts: 1, schemas: [], changes: Array.from({ length: rows }, (_, k) => ({ op: 'insert', schema: 0, before: null, after: { id: k }, id: `0-1-11#${k}`, seq: String(k) })), end, ddl: undefined, bytes: 10 * rows, ...(slice === undefined ? {} : { slice }),
  });
  const limits = { maxRows: 100, maxBytes: 1 << 20 };

  it('an open slice is a batch alone and carries no end; a closing slice starts a batch that later transactions may join', () => {
    const open = { group: 'g', open: true };
    const closing = { group: 'g', open: false };
    const parts = [part(undefined), part(open), part(open), part(closing), part(undefined)];
    const first = takeBatch(parts, limits);
    assert.equal(first.batch.length, 1);
    assert.equal(first.batch[0]?.slice, undefined);
    const second = takeBatch(first.rest, limits);
    assert.deepEqual(second.batch.map((p) => p.slice), [open]);
    const third = takeBatch(second.rest, limits);
    assert.deepEqual(third.batch.map((p) => p.slice), [open]);
    const fourth = takeBatch(third.rest, limits);
    assert.deepEqual(fourth.batch.map((p) => p.slice), [closing, undefined]);
  });

  it('toParts keeps an open slice without an end on every part, and marks only the first part of a closing slice', () => {
    const txn = (open: boolean): SourceTransaction => ({ gtid: '0-1-11', ts: 1, end: { file: FILE, pos: 9 }, schemas: [], changes: part(undefined, 250).changes, bytes: 2500, slice: { group: 'g', open } });
    const open = toParts(txn(true), 100);
    assert.deepEqual(open.map((p) => [p.changes.length, p.end, p.slice?.open]), [[100, undefined, true], [100, undefined, true], [50, undefined, true]]);
    const closing = toParts(txn(false), 100);
    assert.deepEqual(closing.map((p) => [p.end?.pos, p.slice?.open]), [[undefined, false], [undefined, undefined], [9, undefined]]);
  });

  it('the slice threshold is a batch, at most a quarter of the in-flight budget', () => {
    assert.equal(sliceBytesFor({ maxInFlightBytes: 32 << 20, batch: { maxBytes: 8 << 20 } }), 8 << 20);
    assert.equal(sliceBytesFor({ maxInFlightBytes: 1 << 20, batch: { maxBytes: 1 << 20 } }), 256 << 10);
  });
});
