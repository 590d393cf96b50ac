import type { RawRow, RawValue } from '../pipeline/types.js';

/**
 * Rows to read in the next chunk: `maxRows`, fewer when rows are large, so a chunk holds about
 * `maxBytes` of row data (the streaming batch limit) whatever the row size, and at least one row.
 */
export function chunkRowsFor(maxRows: number, maxBytes: number, bytesPerRow: number): number {
  if (!(bytesPerRow > 0)) return maxRows;
  return Math.max(1, Math.min(maxRows, Math.floor(maxBytes / bytesPerRow)));
}

/** Average in-memory size of rows read with exact options (text, buffers, numbers), in bytes. */
export function averageRowBytes(rows: readonly RawRow[]): number {
  if (rows.length === 0) return 0;
  let total = 0;
  for (const row of rows) for (const v of Object.values(row)) total += valueBytes(v);
  return total / rows.length;
}

function valueBytes(v: RawValue): number {
  if (v === null) return 8;
  if (typeof v === 'string') return 2 * v.length + 16;
  if (v instanceof Uint8Array) return v.byteLength + 16;
  if (typeof v === 'number' || typeof v === 'boolean' || v instanceof Date) return 8;
  // Parsed GEOMETRY and the like: small objects.
  return 2 * JSON.stringify(v).length;
}
