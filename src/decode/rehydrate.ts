import { Binary, Decimal128, Double, Long } from 'mongodb';
import type { DecodedChange, MappedDoc } from '../pipeline/types.js';
import { DecodeError } from './mapped.js';
import type { DecodeResult, WireChange, WireValue, WrapTag } from './wire.js';

function wrap(value: WireValue, tag: WrapTag): unknown {
  switch (tag) {
    case 'long':
      if (typeof value === 'number') return Long.fromNumber(value);
      if (typeof value === 'bigint') return Long.fromBigInt(value);
      break;
    case 'decimal':
      if (value instanceof Uint8Array && value.byteLength === 16) return new Decimal128(value);
      break;
    case 'double':
      if (typeof value === 'number') return new Double(value);
      break;
    case 'binary':
      // Binary keeps a view on these bytes, no copy.
      if (value instanceof Uint8Array) return new Binary(value);
      break;
  }
  throw new DecodeError(`cannot wrap ${typeof value} as ${tag}`);
}

function keyOf(image: MappedDoc | null, columns: string[]): unknown {
  if (columns.length === 0 || image === null) return null;
  if (columns.length === 1) return image[columns[0] ?? ''] ?? null;
  const key: MappedDoc = {};
  for (const c of columns) key[c] = image[c] ?? null;
  return key;
}

function rehydrateChange(w: WireChange): DecodedChange {
  const images: [MappedDoc | null, MappedDoc | null] = [w.before, w.after];
  for (const [image, column, tag] of w.wraps) {
    const doc = images[image];
    if (doc === null) throw new DecodeError(`row change ${w.id}: wrap for a missing image`);
    doc[column] = wrap(doc[column] as WireValue, tag);
  }
  const change: DecodedChange = {
    id: w.id,
    seq: w.seq,
    op: w.op,
    db: w.db,
    table: w.table,
    key: keyOf(images[w.keyFrom], w.keyColumns),
    before: images[0],
    after: images[1],
    h: w.h,
    gtid: w.gtid,
    ts: w.ts,
  };
  if (w.keyChanged) change.oldKey = keyOf(images[0], w.keyColumns);
  if (w.raw !== undefined) change.raw = w.raw;
  return change;
}

/** On the main thread: turns a task's clone-safe output into driver-ready BSON values. */
export function rehydrate(result: DecodeResult): DecodedChange[] {
  return result.changes.map(rehydrateChange);
}
