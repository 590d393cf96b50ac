import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StageAhead } from '../../src/actors/stage-ahead.js';
import type { Batch, TxnSlice } from '../../src/pipeline/types.js';

const batch = (id: string, slice?: TxnSlice): Batch => ({ id, end: undefined, lastTs: 0, changes: [], ddl: [], rows: 1, bytes: 1, ...(slice !== undefined ? { slice } : {}) });

describe('StageAhead and streamed transaction slices', () => {
  it('never stages a slice ahead, and stages nothing after one until the committer has committed it', async () => {
    const staged: string[] = [];
    const ahead = new StageAhead((b) => {
      staged.push(b.id);
      return Promise.resolve({ parts: 1, bytes: 1 });
    });
    assert.equal(await ahead.ahead(batch('a')), true);
    // An open slice is staged `open` by the committer; a closing one only after its slices turned pending.
    assert.equal(await ahead.ahead(batch('s1', { group: 'g', open: true })), false);
    assert.equal(await ahead.ahead(batch('c', { group: 'g', open: false })), false);
    assert.equal(await ahead.ahead(batch('b')), false, 'staging order would pass the slices');
    assert.deepEqual(staged, ['a']);
    ahead.committed('a');
    ahead.committed('s1');
    ahead.committed('c');
    // The committer stages b in its turn; d may then go ahead of b's apply.
    await ahead.stagedOrStage(batch('b'));
    assert.equal(await ahead.ahead(batch('d')), true);
    assert.deepEqual(staged, ['a', 'b', 'd']);
  });
});
