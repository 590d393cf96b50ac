/**
 * The one `_id` encoding of a key column value (README "Keys"). The mirror field keeps the
 * type-table value (a Date with the exact text in `_sdl.raw`, rounded Decimal128, an array for
 * SET); the `_id` must instead be exact and injective — two distinct source keys never share
 * an `_id` under MongoDB's equality — and an allowed `_id` type (no arrays, no null for a
 * NOT NULL key). Where a BSON type cannot hold every value of a column exactly, the exact
 * text is used, and for temporal columns with sub-millisecond digits it is used for every row
 * of the column, so one column never mixes Date and String for the same kind of value.
 */
import { Decimal128 } from 'mongodb';
import type { ColumnSpec, RawValue } from '../pipeline/types.js';
import { DecodeError, describe, type Mapped } from './mapped.js';
import { withFsp } from './temporal.js';
import type { DecodeCapabilities, WireValue, WrapTag } from './wire.js';

export interface KeyPart {
  value: WireValue;
  wrap: WrapTag | null;
}

/** Decimal128 holds 34 significant digits. */
const DECIMAL128_DIGITS = 34;

function text(value: WireValue): KeyPart {
  return { value, wrap: null };
}

/** `m` is `v` mapped by the type table (`mapValue`), so no column value is parsed twice. */
export function keyPart(col: ColumnSpec, v: RawValue | undefined, m: Mapped, caps: DecodeCapabilities): KeyPart {
  if (v === null || v === undefined) return text(null);
  switch (col.kind) {
    case 'int':
    case 'bigint':
    case 'float':
    case 'string':
    case 'binary':
    case 'time':
      // Int32/Int64/Double/String/Binary hold these exactly; BIGINT UNSIGNED above 2^63−1 has
      // at most 20 digits, so it is an exact Decimal128 (or its exact text without one).
      return { value: m.value, wrap: m.wrap ?? null };
    case 'decimal':
      return decimalKey(col, v, caps);
    case 'date':
    case 'datetime':
      return temporalKey(col, v, m);
    case 'set':
      if (typeof v === 'string') return text(v);
      if (Array.isArray(v) && v.every((x): x is string => typeof x === 'string')) return text(v.join(','));
      break;
    case 'json':
    case 'geometry':
      return text(typeof v === 'string' ? v : JSON.stringify(v));
  }
  throw new DecodeError(`key column ${col.name} (${col.kind}): unexpected value ${describe(v)}`);
}

/**
 * The value in one normal form (no sign on zero, no leading or trailing zeros), so the
 * identity of a key does not depend on how a driver pads the scale: Decimal128 when it holds
 * it exactly, else this text.
 */
function decimalKey(col: ColumnSpec, v: RawValue, caps: DecodeCapabilities): KeyPart {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(typeof v === 'string' ? v.trim() : '');
  if (m === null || `${m[2] ?? ''}${m[3] ?? ''}` === '') throw new DecodeError(`key column ${col.name} (decimal): unexpected value ${describe(v)}`);
  const whole = (m[2] ?? '').replace(/^0+/, '') || '0';
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  const zero = whole === '0' && fraction === '';
  const normal = `${m[1] === '-' && !zero ? '-' : ''}${whole}${fraction === '' ? '' : `.${fraction}`}`;
  const digits = `${whole === '0' ? '' : whole}${fraction}`.replace(/^0+/, '').length;
  if (caps.decimal128 && digits <= DECIMAL128_DIGITS) {
    // The bytes cross the worker boundary; the main thread wraps them (wire.ts).
    return { value: Uint8Array.from(Decimal128.fromString(normal).bytes), wrap: 'decimal' };
  }
  return text(normal);
}

function temporalKey(col: ColumnSpec, v: RawValue, m: Mapped): KeyPart {
  // Zero and invalid dates have no Date: their exact text (already padded to the column's fsp).
  if (m.tag === 'null') return text(m.raw ?? null);
  if (col.kind === 'date' || col.fsp <= 3) return { value: m.value, wrap: null };
  if (typeof v !== 'string') {
    throw new DecodeError(`key column ${col.name} (${col.kind}(${col.fsp})): ${describe(v)} has lost its microseconds; read it with dateStrings`);
  }
  return text(withFsp(v.trim().replace('T', ' '), col.fsp));
}
