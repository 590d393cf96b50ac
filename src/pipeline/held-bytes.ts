import type { RawRow, RawValue, RowChange } from './types.js';

/**
 * What a row change read from the binlog costs on the V8 heap while it waits to be applied,
 * counted from the values it really holds: the in-flight budget pauses the reader on this.
 *
 * Why not binlog bytes times a factor: the objects' fixed costs (the change, its id and seq
 * strings, one property slot per column, a heap number per numeric value) do not scale with the
 * binlog size. Measured with tools/memory-per-row.ts on MariaDB 10.11 / Node 20: the bench mix
 * held 1190 heap bytes per row against 119 binlog bytes (10×), a narrow three-column insert 530
 * against 21 (25×). The constants below are V8's 64-bit layouts rounded up (headers of 16–24
 * bytes, 8-byte slots, dictionary-mode properties for rows built column by column), so the sum
 * errs high; the tool checks that it is never below the measured heap.
 */
const CHANGE = 192;
const ROW = 64;
const SLOT = 56;
const STRING = 24;
const HEAP_NUMBER = 16;
const DATE = 64;
const BUFFER = 200;
const ARRAY = 32;

export function rowChangeBytes(c: RowChange): number {
  return CHANGE + stringBytes(c.id) + stringBytes(c.seq) + rowBytes(c.before) + rowBytes(c.after);
}

export function rowBytes(row: RawRow | null): number {
  if (row === null) return 0;
  let n = ROW;
  for (const k in row) n += SLOT + valueBytes(row[k]);
  return n;
}

function valueBytes(v: RawValue): number {
  if (v === null || typeof v === 'boolean') return 0;
  if (typeof v === 'string') return stringBytes(v);
  if (typeof v === 'number') return HEAP_NUMBER;
  if (v instanceof Uint8Array) return BUFFER + v.byteLength;
  if (v instanceof Date) return DATE;
  if (Array.isArray(v)) {
    let n = ARRAY;
    for (const x of v) n += 8 + valueBytes(x);
    return n;
  }
  let n = ROW;
  for (const k in v) n += SLOT + stringBytes(k) + valueBytes(v[k]);
  return n;
}

/** Two bytes a character: a string outside Latin-1 is stored two-byte, and checking costs a scan. */
function stringBytes(s: string): number {
  return STRING + 2 * s.length;
}
