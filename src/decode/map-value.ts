import type { ColumnSpec, RawValue } from '../pipeline/types.js';
import { storedBytes } from './binary-text.js';
import { decodeByteString, decodeCharset } from './charsets.js';
import { mapJson } from './json.js';
import { DecodeError, describe, NULL_MAPPED, type Mapped } from './mapped.js';
import { mapBigint, mapDecimal, mapFloat, mapInt } from './numeric.js';
import { mapTemporal, withFsp } from './temporal.js';
import { repairNegativeTime } from './negative-time.js';
import type { DecodeCapabilities } from './wire.js';

function unexpected(col: ColumnSpec, v: RawValue): DecodeError {
  return new DecodeError(`column ${col.name} (${col.kind}): unexpected value ${describe(v)}`);
}

/** BIT may arrive as a number from some drivers: the same bytes zongji sends, big-endian, minimal length. */
function bitBytes(n: number | bigint): Uint8Array {
  let rest = BigInt(n);
  const out: number[] = [];
  do {
    out.unshift(Number(rest & 0xffn));
    rest >>= 8n;
  } while (rest > 0n);
  return Uint8Array.from(out);
}

function mapBinary(col: ColumnSpec, v: RawValue): Mapped {
  let bytes: Uint8Array;
  if (v instanceof Uint8Array) bytes = v;
  else if (typeof v === 'string' && col.binaryText !== undefined) bytes = storedBytes(v, col.binaryText);
  else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) bytes = bitBytes(v);
  else if (typeof v === 'boolean') bytes = Uint8Array.of(v ? 1 : 0);
  else throw unexpected(col, v);
  return { value: bytes, wrap: 'binary', tag: 'binary', canon: bytes };
}

function mapString(col: ColumnSpec, v: RawValue): Mapped {
  if (typeof v === 'string') return { value: v, tag: 'string', canon: v };
  if (typeof v === 'number' || typeof v === 'boolean') return { value: String(v), tag: 'string', canon: String(v) };
  throw unexpected(col, v);
}

/** A text column's stored bytes (see ColumnSpec.charset) → the text the server returns for them. */
function columnText(col: ColumnSpec, charset: string, v: RawValue): string {
  if (typeof v === 'string') return decodeByteString(v, charset);
  if (v instanceof Uint8Array) return decodeCharset(v, charset);
  throw unexpected(col, v);
}

function mapSet(col: ColumnSpec, v: RawValue): Mapped {
  let items: string[];
  if (typeof v === 'string') items = v === '' ? [] : v.split(',');
  else if (Array.isArray(v) && v.every((x): x is string => typeof x === 'string')) items = v;
  else throw unexpected(col, v);
  return { value: items, tag: 'array', canon: JSON.stringify(items) };
}

function mapTime(col: ColumnSpec, v: RawValue): Mapped {
  if (typeof v !== 'string') throw unexpected(col, v);
  const text = withFsp(repairNegativeTime(v.trim()), col.fsp);
  return { value: text, tag: 'string', canon: text };
}

/** One raw column value (zongji or mysql2 with exact options) → its clone-safe mapped form. */
export function mapValue(col: ColumnSpec, raw: RawValue | undefined, caps: DecodeCapabilities): Mapped {
  if (raw === null || raw === undefined) return NULL_MAPPED;
  const v = col.charset === undefined ? raw : columnText(col, col.charset, raw);
  switch (col.kind) {
    case 'int':
      return mapInt(col, v);
    case 'bigint':
      return mapBigint(col, v, caps);
    case 'decimal':
      return mapDecimal(col, v, caps);
    case 'float':
      return mapFloat(col, v);
    case 'string':
      return mapString(col, v);
    case 'set':
      return mapSet(col, v);
    case 'binary':
      return mapBinary(col, v);
    case 'date':
    case 'datetime':
      return mapTemporal(col, v);
    case 'time':
      return mapTime(col, v);
    case 'json':
      return mapJson(col, v, caps);
    case 'geometry':
      // zongji and mysql2 both hand GEOMETRY over parsed ({ x, y } for a POINT; SRID and WKB
      // gone), so the parsed shape is what both sides can agree on: stored like a JSON value.
      return mapJson(col, JSON.stringify(v), caps);
  }
}
