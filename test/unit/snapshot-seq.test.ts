import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mariadbTracker } from '../../src/mysql/gtid.js';
import { IncludeFilter } from '../../src/mysql/include-filter.js';
import { TransactionAssembler } from '../../src/mysql/transaction-assembler.js';
import { snapshotSeq } from '../../src/pipeline/sequence.js';
import type { SourceTransaction } from '../../src/pipeline/types.js';

/** Row-change seqs the real assembler gives to transactions whose GTID event starts at each offset. */
function seqsOf(file: string, starts: number[]): { start: number; end: number; seq: string }[] {
  const out: SourceTransaction[] = [];
  const a = new TransactionAssembler({ file, pos: 4 }, new IncludeFilter([]), mariadbTracker(undefined), { transaction: (t) => out.push(t), heartbeat: () => undefined }, () => new Set());
  a.push({ kind: 'rotate', file, position: 4 });
  a.push({ kind: 'tablemap', tableId: 1, db: 'd', table: 't', columns: [{ name: 'id', type: 3, charset: null }], primaryKey: [0] });
  return starts.map((start, i) => {
    // A GTID event is about 40 bytes; its end is the position the assembler records.
    a.push({ kind: 'begin', gtid: `0-1-${i + 1}`, standalone: false, nextPosition: start + 40, timestamp: 0 });
    a.push({ kind: 'rows', op: 'insert', tableId: 1, rows: [{ id: i }, { id: i + 100 }], size: 10, timestamp: 0, absent: [], nextPosition: start + 100 });
    a.push({ kind: 'commit', nextPosition: start + 200, timestamp: 0 });
    const txn = out.at(-1);
    assert.ok(txn);
    return { start, end: txn.end.pos, seq: txn.changes.at(-1)?.seq ?? '' };
  });
}

describe('snapshot seq', () => {
  it('sorts after every change before the view position and before every change after it', () => {
    const txns = seqsOf('binlog.000007', [4, 204, 404, 604, 99_804]);
    for (const view of [204, 404, 604, 99_804, 100_004]) {
      const s = snapshotSeq({ file: 'binlog.000007', pos: view });
      for (const t of txns) {
        if (t.end <= view) assert.ok(t.seq < s, `${t.seq} (ends ${t.end}) sorts before the view at ${view} (${s})`);
        else assert.ok(t.seq > s, `${t.seq} (starts ${t.start}) sorts after the view at ${view} (${s})`);
      }
    }
    // The next file sorts after any position of this one, and a view in the next file after all of this one.
    const [next] = seqsOf('binlog.000008', [4]);
    assert.ok(next !== undefined && next.seq > snapshotSeq({ file: 'binlog.000007', pos: 1e9 }));
    for (const t of txns) assert.ok(t.seq < snapshotSeq({ file: 'binlog.000008', pos: 4 }));
  });

  it('a re-snapshot in a later epoch sorts after everything written before, old formats included', () => {
    const txns = seqsOf('binlog.000999', [4, 99_804]);
    const resnapshot = snapshotSeq({ file: 'binlog.000001', pos: 4, epoch: 1 });
    for (const t of txns) assert.ok(t.seq < resnapshot, `${t.seq} < ${resnapshot}`);
    // `_sdl.pos` as written before epochs existed (`<file, 6>:<start, 12>:<n, 8>`).
    assert.ok('999999:999999999999:99999999' < snapshotSeq({ file: 'binlog.000001', pos: 4 }));
  });
});
