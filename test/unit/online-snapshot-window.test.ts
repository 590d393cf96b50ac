import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MirrorLock } from '../../src/mongo/mirror-lock.js';
import { keyIdentity } from '../../src/mongo/key-identity.js';
import { snapshotSeq } from '../../src/pipeline/sequence.js';
import type { DecodedChange } from '../../src/pipeline/types.js';
import { TouchedKeys } from '../../src/snapshot/touched-keys.js';

function change(table: string, key: unknown, seq: string, oldKey?: unknown): DecodedChange {
  return { id: seq, seq, op: 'update', db: 'd', table, key, ...(oldKey !== undefined ? { oldKey } : {}), before: null, after: {}, h: null, gtid: undefined, ts: 0 };
}

describe('online snapshot window', () => {
  const view = snapshotSeq({ file: 'binlog.000002', pos: 1000 });
  const before = snapshotSeq({ file: 'binlog.000002', pos: 400 }) + '00000000';
  const afterSeq = snapshotSeq({ file: 'binlog.000002', pos: 1000 }) + '00000001';
  const later = snapshotSeq({ file: 'binlog.000003', pos: 4 }) + '00000000';

  it('a key changed after the view is touched, one changed before it is not; an update that moved a row touches its old key', () => {
    const t = new TouchedKeys();
    t.watch('d.t');
    t.note([change('t', 1, before), change('t', 2, afterSeq), change('t', 30, later, 3), change('other', 4, later)]);
    assert.deepEqual([...t.after('d.t', view)].sort(), [keyIdentity(2), keyIdentity(3), keyIdentity(30)].sort());
    assert.deepEqual([...t.after('d.other', view)], [], 'an unwatched table is not recorded');
  });

  it('pruning at a view keeps what a later view needs; unwatch forgets', () => {
    const t = new TouchedKeys();
    t.watch('d.t');
    t.note([change('t', 2, afterSeq), change('t', 5, later)]);
    t.prune('d.t', afterSeq);
    assert.deepEqual([...t.after('d.t', view)], [keyIdentity(5)]);
    t.unwatch('d.t');
    t.note([change('t', 6, later)]);
    assert.deepEqual([...t.after('d.t', view)], []);
  });

  it('the mirror lock runs one writer at a time, in order, and survives a failing one', async () => {
    const lock = new MirrorLock();
    const trace: string[] = [];
    const slow = (name: string, ms: number, fail = false) => async (): Promise<string> => {
      trace.push(`${name} in`);
      await new Promise((r) => setTimeout(r, ms));
      trace.push(`${name} out`);
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([lock.exclusive(slow('a', 30)), lock.exclusive(slow('b', 1, true)), lock.exclusive(slow('c', 1))]);
    assert.deepEqual(trace, ['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  });
});
