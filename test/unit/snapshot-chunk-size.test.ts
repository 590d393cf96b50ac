import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { averageRowBytes, chunkRowsFor } from '../../src/snapshot/chunk-size.js';

describe('snapshot chunk size', () => {
  it('holds about maxBytes of rows: all rows when small, fewer when large, never zero', () => {
    const MiB = 1024 * 1024;
    assert.equal(chunkRowsFor(2000, 8 * MiB, 200), 2000);
    assert.equal(chunkRowsFor(2000, 8 * MiB, 1 * MiB), 8);
    assert.equal(chunkRowsFor(2000, 8 * MiB, 20 * MiB), 1);
    assert.equal(chunkRowsFor(2000, 8 * MiB, 0), 2000, 'no estimate: the row limit');
    assert.equal(chunkRowsFor(2000, 8 * MiB, Number.NaN), 2000);
  });

  it('measures rows as read: a 4 MiB blob row weighs at least its bytes', () => {
    const big = { id: 1, b: new Uint8Array(4 * 1024 * 1024), s: 'x'.repeat(10) };
    const small = { id: 2, b: null, s: 'y' };
    assert.ok(averageRowBytes([big]) >= 4 * 1024 * 1024);
    assert.ok(averageRowBytes([big, small]) >= 2 * 1024 * 1024);
    assert.equal(averageRowBytes([]), 0);
    assert.equal(chunkRowsFor(2000, 8 * 1024 * 1024, averageRowBytes([big])), 1);
  });
});
