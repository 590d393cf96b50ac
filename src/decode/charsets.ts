import iconv from 'iconv-lite';
import { SINGLE_BYTE_TABLES } from './charset-tables.js';
import { DecodeError } from './mapped.js';

/**
 * Text column bytes → the string the server itself returns for them in utf8mb4, per MySQL
 * character set. Only charsets proven byte for byte against the server
 * (test/integration/charsets.test.ts) are here; a column in any other charset is refused
 * (UNSUPPORTED_COLUMN), never guessed.
 */
type Decoder = (bytes: Uint8Array) => string;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function singleByte(table: string): Decoder {
  return (bytes) => {
    let out = '';
    for (const b of bytes) out += table[b];
    return out;
  };
}

/**
 * Single-byte charsets on the reader's passthrough string (one byte per character), without
 * the round trip through bytes: where the table keeps ASCII as is, only bytes ≥ 0x80 change.
 */
function singleByteText(table: string): (byteString: string) => string {
  const asciiKept = [...table.slice(0, 0x80)].every((c, i) => c.charCodeAt(0) === i);
  const changed = asciiKept ? /[\x80-\xff]/g : /[\s\S]/g;
  return (s) => s.replace(changed, (c) => table[c.charCodeAt(0)] ?? c);
}
const SINGLE_BYTE_TEXT = new Map(Object.entries(SINGLE_BYTE_TABLES).map(([name, table]) => [name, singleByteText(table)]));

/** iconv-lite decoders whose output equals the server's for every value the test writes. */
function viaIconv(encoding: string): Decoder {
  return (bytes) => iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), encoding, { stripBOM: false });
}

const DECODERS = new Map<string, Decoder>([
  ...Object.entries(SINGLE_BYTE_TABLES).map(([name, table]): [string, Decoder] => [name, singleByte(table)]),
  // The server stores only well-formed UTF-8 in these, so a strict decoder fails only on corruption.
  ['utf8mb3', (b) => utf8.decode(b)],
  ['utf8mb4', (b) => utf8.decode(b)],
  // Stored big-endian whatever the platform.
  ['utf16', viaIconv('utf16-be')],
  ['utf16le', viaIconv('utf16-le')],
  ['utf32', viaIconv('utf32-be')],
  // Refused, measured against MariaDB 10.11: ucs2 (the server turns stored surrogate code
  // units into '?', iconv-lite pairs them); big5, cp932, sjis, ujis, eucjpms, euckr, gb2312,
  // gbk (ill-formed sequences a non-strict session stores become '?' per the server's own
  // rules, U+FFFD or other characters in iconv-lite; big5, ujis, eucjpms, cp932 and sjis also
  // differ on some well-formed characters).
]);

export function canDecodeCharset(charset: string): boolean {
  return DECODERS.has(charset);
}

export function decodeCharset(bytes: Uint8Array, charset: string): string {
  const decoder = DECODERS.get(charset);
  if (decoder === undefined) throw new DecodeError(`no exact decoder for character set ${charset}`);
  try {
    return decoder(bytes);
  } catch (err) {
    throw new DecodeError(`bytes that are not well-formed ${charset}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Charsets zongji decodes exactly itself (Buffer.toString('utf8') on the well-formed UTF-8 the server stores). */
export function decodedByZongji(charset: string): boolean {
  return charset === 'utf8mb4' || charset === 'utf8mb3';
}

/** A passthrough string (see PASSTHROUGH_CHARSET) → the text the server returns for its bytes. */
export function decodeByteString(s: string, charset: string): string {
  const single = SINGLE_BYTE_TEXT.get(charset);
  return single !== undefined ? single(s) : decodeCharset(passthroughBytes(s), charset);
}

/**
 * The charset the binlog reader gives zongji for columns sdl decodes itself: iconv-lite's
 * `binary` maps each byte to the code point of the same value, so the bytes survive in a string.
 */
export const PASSTHROUGH_CHARSET = 'binary';

/** Undoes PASSTHROUGH_CHARSET: the column's original bytes. */
function passthroughBytes(v: string): Uint8Array {
  return Buffer.from(v, 'latin1');
}
