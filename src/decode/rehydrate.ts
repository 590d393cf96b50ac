import { Binary, Decimal128, Double, Long } from 'mongodb';
import type { DecodedChange, MappedDoc } from '../pipeline/types.js';
import { DecodeError } from './mapped.js';
import { keyIdentity } from '../mongo/key-identity.js';
import { fieldName } from '../mongo/names.js';
import type { DecodeResult, WireChange, WireKey, WireValue, WrapTag } from './wire.js';

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

function keyOf(key: WireKey, columns: string[]): unknown {
  const values = key.values.map((v, i) => {
    const tag = key.wraps[i] ?? null;
    return tag === null ? v : wrap(v, tag);
  });
  if (columns.length === 1) return values[0] ?? null;
  // A composite key is an object of its parts in key order: MongoDB compares field order too.
  const out: MappedDoc = {};
  columns.forEach((c, i) => (out[fieldName(c)] = values[i] ?? null));
  return out;
}

function rehydrateChange(w: WireChange, copy: boolean): DecodedChange {
  // Wrapping replaces top-level values, so a shallow copy of each image leaves the wire form as it was.
  const images: [MappedDoc | null, MappedDoc | null] = copy ? [w.before === null ? null : { ...w.before }, w.after === null ? null : { ...w.after }] : [w.before, w.after];
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
    key: w.key === null ? null : keyOf(w.key, w.keyColumns),
    before: images[0],
    after: images[1],
    h: w.h,
    gtid: w.gtid,
    ts: w.ts,
  };
  if (w.beforeKey !== undefined) {
    const oldKey = keyOf(w.beforeKey, w.keyColumns);
    if (keyIdentity(oldKey) !== keyIdentity(change.key)) change.oldKey = oldKey;
  }
  if (w.raw !== undefined) change.raw = w.raw;
  return change;
}

/**
 * On the main thread: turns a task's clone-safe output into driver-ready BSON values, in place.
 * `copy` leaves the wire form untouched (the decode task encodes the staging payload from a
 * rehydrated copy and still returns the wire form).
 */
export function rehydrate(result: DecodeResult, { copy = false }: { copy?: boolean } = {}): DecodedChange[] {
  return result.changes.map((w) => rehydrateChange(w, copy));
}
