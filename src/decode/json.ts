import type { ColumnSpec, RawValue } from '../pipeline/types.js';
import { DecodeError, describe, type Mapped } from './mapped.js';
import type { DecodeCapabilities, WireValue } from './wire.js';

/** Strings (skipped) or whole integer literals (not fraction or exponent digits) that may exceed 2^53. */
const TOKENS = /"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?![.\deE])/g;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** True when JSON.parse would round an integer literal in `text`. */
export function hasUnsafeInteger(text: string): boolean {
  for (const m of text.matchAll(TOKENS)) {
    const token = m[0];
    if (token.startsWith('"')) continue;
    const n = BigInt(token);
    if (n > MAX_SAFE || n < -MAX_SAFE) return true;
  }
  return false;
}

function nestedArray(v: unknown, inArray: boolean): boolean {
  if (Array.isArray(v)) return inArray || v.some((x) => nestedArray(x, true));
  if (v !== null && typeof v === 'object') return Object.values(v).some((x) => nestedArray(x, false));
  return false;
}

function badKey(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(badKey);
  if (v !== null && typeof v === 'object') {
    return Object.entries(v).some(([k, x]) => k.includes('.') || k.startsWith('$') || k.includes('\u0000') || badKey(x));
  }
  return false;
}

/**
 * JSON (MySQL native, or MariaDB LONGTEXT text) → document / array / scalar. The text is kept
 * instead when parsing would round a big integer (always), or when the server cannot store the
 * shape (nested arrays, dotted or `$` keys: capability fallbacks).
 */
export function mapJson(col: ColumnSpec, v: RawValue, caps: DecodeCapabilities): Mapped {
  let text: string | undefined;
  let doc: unknown;
  if (typeof v === 'string') {
    text = v;
    if (hasUnsafeInteger(text)) return { value: text, tag: 'jsontext', canon: text };
    try {
      doc = JSON.parse(text);
    } catch {
      // Not valid JSON (a MariaDB column without its json_valid check): the text is the value.
      return { value: text, tag: 'jsontext', canon: text };
    }
  } else if (v instanceof Uint8Array || v instanceof Date) {
    throw new DecodeError(`column ${col.name} (json): unexpected value ${describe(v)}`);
  } else {
    doc = v;
  }
  const canon = JSON.stringify(doc);
  if ((!caps.nestedArrays && nestedArray(doc, false)) || (!caps.dottedKeys && badKey(doc))) {
    return { value: text ?? canon, tag: 'json', canon };
  }
  return { value: doc as WireValue, tag: 'json', canon };
}
