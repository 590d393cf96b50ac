import { DecodeError } from './mapped.js';

/** MariaDB types stored as fixed-width bytes that a SELECT returns as text. */
export type BinaryTextType = 'uuid' | 'inet4' | 'inet6';

/**
 * The stored bytes behind a UUID/INET4/INET6 value as a SELECT returns it: the binlog row
 * image carries these bytes (measured: the UUID's hex digits in text order, INET4/INET6 in
 * network order), so a mirror written from either source holds the same value.
 */
export function storedBytes(text: string, type: BinaryTextType): Uint8Array {
  const bytes = type === 'uuid' ? uuidBytes(text) : type === 'inet4' ? inet4Bytes(text) : inet6Bytes(text);
  if (bytes === undefined) throw new DecodeError(`not a ${type} value as the server writes it: ${JSON.stringify(text)}`);
  return bytes;
}

function uuidBytes(text: string): Uint8Array | undefined {
  const hex = text.replace(/-/g, '');
  return /^[0-9a-f]{32}$/i.test(hex) ? Buffer.from(hex, 'hex') : undefined;
}

function inet4Bytes(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return Uint8Array.from(parts.map(Number));
}

function inet6Bytes(text: string): Uint8Array | undefined {
  let groups = text;
  const tail: number[] = [];
  // An IPv4 tail (`::ffff:1.2.3.4`, `::1.2.3.4`) fills the last two groups.
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1] !== undefined && v4[2] !== undefined) {
    const b = inet4Bytes(v4[2]);
    if (b === undefined) return undefined;
    tail.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
    groups = v4[1].endsWith('::') ? v4[1] : v4[1].slice(0, -1);
  }
  const halves = groups.split('::');
  if (halves.length > 2) return undefined;
  const parse = (s: string | undefined): number[] | undefined => {
    if (s === undefined || s === '') return [];
    const out = s.split(':').map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN));
    return out.some(Number.isNaN) ? undefined : out;
  };
  const head = parse(halves[0]);
  const rest = parse(halves[1]);
  if (head === undefined || rest === undefined) return undefined;
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const words = [...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail];
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}
