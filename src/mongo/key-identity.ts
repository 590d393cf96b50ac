import { Binary, BSON, Decimal128, Double, Int32, Long } from 'mongodb';

/**
 * Identity of an `_id` value under MongoDB's own equality, as a string: two values get the
 * same identity exactly when the server would call them the same `_id`. Numbers compare by
 * exact value whatever their BSON type (Int32 5 = Long 5 = Double 5.0 = Decimal128 5.00;
 * Double 0.1 ≠ Decimal128 0.1, whose values differ), so a key written as a `Long` and read
 * back promoted to a JS number is still the same key. Embedded documents compare field by
 * field in order; strings and binaries byte for byte (binaries with their subtype).
 */
export function keyIdentity(v: unknown): string {
  if (v === null || v === undefined) return 'z';
  if (typeof v === 'string') return `s${JSON.stringify(v)}`;
  if (typeof v === 'number') return `n${numberOf(v)}`;
  if (typeof v === 'bigint') return `n${exact(v, 0)}`;
  if (typeof v === 'boolean') return v ? 'T' : 'F';
  if (v instanceof Int32) return `n${exact(BigInt(v.value), 0)}`;
  if (v instanceof Long) return `n${exact(v.toBigInt(), 0)}`;
  if (v instanceof Double) return `n${numberOf(v.value)}`;
  if (v instanceof Decimal128) return `n${decimalOf(v.toString())}`;
  if (v instanceof Date) return `d${v.getTime()}`;
  if (v instanceof Binary) return `b${v.sub_type}:${hex(v.buffer.subarray(0, v.position))}`;
  // A bare Buffer/Uint8Array is stored as Binary subtype 0.
  if (v instanceof Uint8Array) return `b0:${hex(v)}`;
  if (Array.isArray(v)) return `a[${v.map(keyIdentity).join(',')}]`;
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return `o{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}:${keyIdentity(x)}`).join(',')}}`;
  }
  // Other BSON types (ObjectId, Timestamp, …) are never produced as keys; compare them by type and value.
  return `x${BSON.EJSON.stringify({ v }, { relaxed: false })}`;
}

/** `coefficient × 10^exponent` in one normal form: no trailing zeros, zero without sign. */
function exact(coefficient: bigint, exponent: number): string {
  if (coefficient === 0n) return '0';
  let c = coefficient;
  let e = exponent;
  while (c % 10n === 0n) {
    c /= 10n;
    e++;
  }
  return `${c}e${e}`;
}

/** The exact decimal value of a double (every finite double is a finite decimal). */
function numberOf(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Inf' : '-Inf';
  if (Number.isInteger(n)) return exact(BigInt(n), 0);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, n);
  const bits = view.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  // value = mantissa × 2^p with p < 0 here (integers took the branch above) = mantissa × 5^−p × 10^p.
  const p = (biased === 0 ? 1 : biased) - 1075;
  return exact((negative ? -mantissa : mantissa) * 5n ** BigInt(-p), p);
}

function decimalOf(text: string): string {
  const m = /^([+-]?)(\d+)(?:\.(\d*))?(?:E([+-]?\d+))?$/i.exec(text);
  if (m === null) return text === '-Infinity' ? '-Inf' : text === 'Infinity' ? 'Inf' : 'NaN';
  const fraction = m[3] ?? '';
  const coefficient = BigInt(`${m[1] ?? ''}${m[2] ?? '0'}${fraction}`);
  return exact(coefficient, Number(m[4] ?? '0') - fraction.length);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
