import { Decimal128 } from 'mongodb';
import type { ColumnSpec, RawValue } from '../pipeline/types.js';
import { DecodeError, describe, withRaw, type Mapped } from './mapped.js';
import type { DecodeCapabilities } from './wire.js';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;
/** Decimal128 holds 34 significant digits; DECIMAL(65,30) can have more. */
const DECIMAL128_DIGITS = 34;

function bad(col: ColumnSpec, v: RawValue): DecodeError {
  return new DecodeError(`column ${col.name} (${col.kind}${col.unsigned ? ' unsigned' : ''}): unexpected value ${describe(v)}`);
}

function toBigInt(col: ColumnSpec, v: RawValue): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && INTEGER.test(v.trim())) return BigInt(v.trim());
  if (typeof v === 'boolean') return v ? 1n : 0n;
  // A number beyond 2^53 has already lost digits before it got here: refuse rather than store it.
  throw bad(col, v);
}

function longMapped(n: bigint): Mapped {
  const asNumber = Number(n);
  // Safe integers travel as numbers: cheaper to clone and to wrap than bigint.
  return { value: Number.isSafeInteger(asNumber) ? asNumber : n, wrap: 'long', tag: 'long', canon: n.toString() };
}

/** zongji's YEAR is the stored byte + 1900, and 1900 is outside YEAR's range: it is 0000. */
const ZONGJI_YEAR_ZERO = 1900n;

export function mapInt(col: ColumnSpec, v: RawValue): Mapped {
  let n = toBigInt(col, v);
  if (col.year === true && n === ZONGJI_YEAR_ZERO) n = 0n;
  if (n >= BigInt(INT32_MIN) && n <= BigInt(INT32_MAX)) return { value: Number(n), tag: 'int', canon: n.toString() };
  // INT UNSIGNED above 2^31−1: Int64 keeps it exact.
  return longMapped(n);
}

export function mapBigint(col: ColumnSpec, v: RawValue, caps: DecodeCapabilities): Mapped {
  const n = toBigInt(col, v);
  if (n < INT64_MIN) throw bad(col, v);
  if (n <= INT64_MAX) return longMapped(n);
  const text = n.toString();
  const d = Decimal128.fromString(text);
  return {
    value: caps.decimal128 ? Uint8Array.from(d.bytes) : text,
    ...(caps.decimal128 ? { wrap: 'decimal' as const } : {}),
    tag: 'decimal',
    canon: d.toString(),
  };
}

function significantDigits(text: string): number {
  return text.replace(/^[+-]/, '').replace('.', '').replace(/^0+/, '').length;
}

export function mapDecimal(col: ColumnSpec, v: RawValue, caps: DecodeCapabilities): Mapped {
  // Numbers here mean the connection was opened without exact options: digits may be gone already.
  const text = typeof v === 'string' ? v.trim() : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
  if (text === undefined || !DECIMAL.test(text)) throw bad(col, v);
  const exact = significantDigits(text) <= DECIMAL128_DIGITS;
  const d = exact ? Decimal128.fromString(text) : Decimal128.fromStringWithRounding(text);
  const raw = exact ? undefined : text;
  const canon = withRaw(d.toString(), raw);
  // Without Decimal128 the exact text is stored, so there is nothing left for raw to add.
  if (!caps.decimal128) return { value: text, tag: 'decimal', canon };
  return { value: Uint8Array.from(d.bytes), wrap: 'decimal', ...(raw === undefined ? {} : { raw }), tag: 'decimal', canon };
}

export function mapFloat(col: ColumnSpec, v: RawValue): Mapped {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw bad(col, v);
  // String(-0) is '0': keep the sign apart so the hash sees what is stored.
  return { value: n, wrap: 'double', tag: 'double', canon: Object.is(n, -0) ? '-0' : String(n) };
}
