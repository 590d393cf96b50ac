/**
 * A repair of zongji 0.9.0's TableMap reader for MariaDB, applied once before any binlog is read.
 *
 * MariaDB's FULL row metadata lists a collation for every GEOMETRY column in its charset lists
 * (as binary), zongji counts only text columns there: on a table with a GEOMETRY column, every
 * text column after it took the collation of the column before it — a utf8mb4 CHAR read as
 * bytes, latin1 text decoded as UTF-8 — silently (found by the generative suite). The repair
 * reads the charset fields again, counting GEOMETRY as MariaDB does, and replaces zongji's
 * collation ids with the right ones. MySQL does not count GEOMETRY, so it is left alone there.
 */

interface Parser {
  _offset: number;
  _packetEnd: number;
  parseUnsignedNumber(bytes: number): number;
  parseLengthCodedNumber(): number | null;
  parseBuffer(bytes: number): Buffer;
}

interface TableMapInternals {
  columnCount: number;
  _columnCharsetIds?: (number | undefined)[];
  _effectiveColumnType(index: number): number;
}

interface ZongjiState {
  useChecksum?: boolean;
  isMariaDb?: boolean;
}

type ReadOptionalMetadata = (this: TableMapInternals, parser: Parser, zongji: ZongjiState) => void;

/** Column types in MariaDB's charset lists: text and blob types, their COMPRESSED forms, GEOMETRY. */
const CHARSET_TYPES = new Set([15, 253, 254, 249, 250, 251, 252, 140, 141, 255]);
const ENUM = 247;
const SET = 248;
const DEFAULT_CHARSET = 2;
const COLUMN_CHARSET = 3;
const ENUM_AND_SET_DEFAULT_CHARSET = 10;
const ENUM_AND_SET_COLUMN_CHARSET = 11;

let applied: Promise<void> | undefined;

export function repairTableMapCharsets(): Promise<void> {
  applied ??= apply();
  return applied;
}

async function apply(): Promise<void> {
  // zongji exports only its client class; the TableMap class lives in the module it loads itself.
  const url = new URL('./lib/binlog_event.js', import.meta.resolve('@vlasky/zongji'));
  const mod = (await import(url.href)) as { TableMap?: { prototype: { _readOptionalMetadata?: ReadOptionalMetadata } } };
  const proto = mod.TableMap?.prototype;
  const original = proto?._readOptionalMetadata;
  if (proto === undefined || original === undefined) throw new Error('zongji has no TableMap._readOptionalMetadata to repair: check the charset handling for this zongji version');
  proto._readOptionalMetadata = function (this: TableMapInternals, parser: Parser, zongji: ZongjiState): void {
    const start = parser._offset;
    original.call(this, parser, zongji);
    if (zongji.isMariaDb !== true || this._columnCharsetIds === undefined) return;
    const after = parser._offset;
    try {
      this._columnCharsetIds = mariadbCharsetIds(this, parser, start, zongji.useChecksum === true);
    } finally {
      parser._offset = after;
    }
  };
}

function mariadbCharsetIds(table: TableMapInternals, parser: Parser, start: number, checksum: boolean): (number | undefined)[] {
  const text: number[] = [];
  const enumSet: number[] = [];
  for (let i = 0; i < table.columnCount; i++) {
    const type = table._effectiveColumnType(i);
    if (type === ENUM || type === SET) enumSet.push(i);
    else if (CHARSET_TYPES.has(type)) text.push(i);
  }
  const ids = new Array<number | undefined>(table.columnCount);
  const number = (): number => parser.parseLengthCodedNumber() ?? 0;
  parser._offset = start;
  // The nullability bitmap between the column metadata and the optional fields.
  parser.parseBuffer(Math.floor((table.columnCount + 7) / 8));
  const end = parser._packetEnd - (checksum ? 4 : 0);
  while (parser._offset < end) {
    const type = parser.parseUnsignedNumber(1);
    const length = number();
    const fieldEnd = parser._offset + length;
    const columns = type === DEFAULT_CHARSET || type === COLUMN_CHARSET ? text : enumSet;
    if (type === DEFAULT_CHARSET || type === ENUM_AND_SET_DEFAULT_CHARSET) {
      const fallback = number();
      for (const c of columns) ids[c] = fallback;
      while (parser._offset < fieldEnd) {
        const position = number();
        const collation = number();
        const column = columns[position];
        if (column !== undefined) ids[column] = collation;
      }
    } else if (type === COLUMN_CHARSET || type === ENUM_AND_SET_COLUMN_CHARSET) {
      for (let k = 0; parser._offset < fieldEnd; k++) {
        const collation = number();
        const column = columns[k];
        if (column !== undefined) ids[column] = collation;
      }
    }
    parser._offset = fieldEnd;
  }
  return ids;
}
