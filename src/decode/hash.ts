import { createHash } from 'node:crypto';
import type { RawRow, TableSchema } from '../pipeline/types.js';
import { mapValue } from './map-value.js';
import type { HashTag, Mapped } from './mapped.js';
import { FULL_CAPABILITIES } from './wire.js';

export type HashEntry = [column: string, tag: HashTag, canon: string | Uint8Array];

/**
 * `_sdl.h`: sha256 (first 32 hex digits) over [column, BSON type tag, canonical value
 * (+ exact source text)] sorted by column name. Independent of column order, of the raw form
 * a driver used (42 vs '42') and of the target's capability fallbacks.
 */
export function hashEntries(entries: HashEntry[]): string {
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const h = createHash('sha256');
  for (const [column, tag, canon] of entries) {
    if (typeof canon === 'string') {
      h.update(`${JSON.stringify([column, tag, canon])}\n`);
    } else {
      // Bytes go in as they are (a hex or JSON text of a large BLOB costs more than the hash), framed by their length.
      h.update(`${JSON.stringify([column, tag, canon.byteLength])}\n`);
      h.update(canon);
      h.update('\n');
    }
  }
  return h.digest('hex').slice(0, 32);
}

export function entry(column: string, m: Mapped): HashEntry {
  return [column, m.tag, m.canon];
}

/**
 * The same hash from a row read with mysql2, for the verifier. Read it the way the binlog
 * reader does: `dateStrings: true`, `supportBigNumbers` and `bigNumberStrings: true`,
 * `jsonStrings: true` (parsed JSON has already rounded big integers), session
 * `time_zone = '+00:00'`, and FLOAT columns as `CAST(col AS DOUBLE)` (the text protocol
 * prints FLOAT's shortest decimal, the binlog carries the exact single-precision value).
 */
export function hashRow(schema: TableSchema, row: RawRow): string {
  const entries: HashEntry[] = [];
  for (const col of schema.columns) {
    if (Object.hasOwn(row, col.name)) entries.push(entry(col.name, mapValue(col, row[col.name], FULL_CAPABILITIES)));
  }
  return hashEntries(entries);
}
