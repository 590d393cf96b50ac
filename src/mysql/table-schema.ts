import { resnapshotHint } from './resnapshot-hint.js';
import { canDecodeCharset, decodedByZongji } from '../decode/charsets.js';
import { SdlError } from '../errors.js';
import type { ColumnKind, ColumnSpec, TableSchema } from '../pipeline/types.js';

/** MySQL binlog column type codes (include/mysql_com.h `enum_field_types`; 140/141 are MariaDB's). */
export const T = {
  DECIMAL: 0, TINY: 1, SHORT: 2, LONG: 3, FLOAT: 4, DOUBLE: 5, TIMESTAMP: 7, LONGLONG: 8,
  INT24: 9, DATE: 10, TIME: 11, DATETIME: 12, YEAR: 13, NEWDATE: 14, VARCHAR: 15, BIT: 16,
  TIMESTAMP2: 17, DATETIME2: 18, TIME2: 19, JSON: 245, NEWDECIMAL: 246, ENUM: 247, SET: 248,
  TINY_BLOB: 249, MEDIUM_BLOB: 250, LONG_BLOB: 251, BLOB: 252, VAR_STRING: 253, STRING: 254,
  GEOMETRY: 255, BLOB_COMPRESSED: 140, VARCHAR_COMPRESSED: 141,
} as const;

/** Types whose values are character data in the column's charset (or bytes when it has none). */
const TEXT_TYPES: ReadonlySet<number> = new Set([
  T.VARCHAR, T.VAR_STRING, T.STRING, T.TINY_BLOB, T.MEDIUM_BLOB, T.LONG_BLOB, T.BLOB, T.BLOB_COMPRESSED, T.VARCHAR_COMPRESSED,
]);

/**
 * Whether the reader has zongji hand this column's values over as the stored bytes, for
 * src/decode to decode (text not in UTF-8; see src/mysql/table-map.ts).
 */
export function arrivesAsBytes(type: number, charset: string | null): charset is string {
  return charset !== null && TEXT_TYPES.has(type) && !decodedByZongji(charset);
}

/** Why sdl cannot decode this column exactly, or undefined when it can. */
export function unsupportedReason(col: BinlogColumn): string | undefined {
  if (!KNOWN_TYPES.has(col.type)) return `binlog column type ${col.type} is unknown to sdl`;
  if (col.charset !== null && !canDecodeCharset(col.charset)) return `character set ${col.charset} has no exact decoder in sdl`;
  return undefined;
}

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(T));

/** The loud stop for a column sdl would otherwise store wrongly; `at` names the binlog position. */
export function unsupportedColumn(db: string, table: string, column: string, reason: string, at: string): SdlError {
  return new SdlError('UNSUPPORTED_COLUMN', `${db}.${table}.${column}: ${reason} (${at})`, 'permanent',
    `convert the column at the source to a type and character set sdl decodes (README, "Column values and character sets"; ` +
    `e.g. \`ALTER TABLE ${db}.${table} CONVERT TO CHARACTER SET utf8mb4\`), or exclude \`${db}.${table}\` from SDL_INCLUDE; ` +
    `then ${resnapshotHint([`${db}.${table}`])}`);
}

/** The parts of a zongji TableMap column this module reads. */
export interface BinlogColumn {
  name: string;
  type: number;
  charset: string | null;
  metadata?: Record<string, unknown>;
  unsigned?: boolean;
}

function columnKind(db: string, table: string, col: BinlogColumn, jsonColumns: ReadonlySet<string>): ColumnKind {
  const kind = binlogKind(db, table, col);
  // MariaDB JSON is LONGTEXT with a json_valid check (names in lower case: column names are
  // case-insensitive). A column of that name that is not text in this row's own TableMap keeps
  // the kind the TableMap says.
  return kind === 'string' && jsonColumns.has(col.name.toLowerCase()) ? 'json' : kind;
}

function binlogKind(db: string, table: string, col: BinlogColumn): ColumnKind {
  switch (col.type) {
    case T.TINY: case T.SHORT: case T.INT24: case T.LONG: case T.YEAR:
      return 'int';
    case T.LONGLONG:
      return 'bigint';
    case T.DECIMAL: case T.NEWDECIMAL:
      return 'decimal';
    case T.FLOAT: case T.DOUBLE:
      return 'float';
    case T.ENUM:
      return 'string';
    case T.SET:
      return 'set';
    case T.VARCHAR: case T.VAR_STRING: case T.STRING:
    case T.TINY_BLOB: case T.MEDIUM_BLOB: case T.LONG_BLOB: case T.BLOB:
    case T.VARCHAR_COMPRESSED: case T.BLOB_COMPRESSED:
      // Text and binary share type codes; only the character set tells them apart.
      return col.charset === null ? 'binary' : 'string';
    case T.BIT:
      return 'binary';
    case T.GEOMETRY:
      return 'geometry';
    case T.JSON:
      return 'json';
    case T.DATE: case T.NEWDATE:
      return 'date';
    case T.TIMESTAMP: case T.TIMESTAMP2: case T.DATETIME: case T.DATETIME2:
      return 'datetime';
    case T.TIME: case T.TIME2:
      return 'time';
    default:
      throw unsupportedColumn(db, table, col.name, `binlog column type ${col.type} is unknown to sdl`, 'TableMap');
  }
}

/**
 * Builds the schema a row image was written with from that event's own TableMap, so rows on
 * either side of an ALTER decode with their own columns.
 */
export function tableSchema(
  db: string,
  table: string,
  columns: BinlogColumn[],
  primaryKey: number[] | undefined,
  jsonColumns: ReadonlySet<string>,
): TableSchema {
  const specs: ColumnSpec[] = columns.map((c) => {
    const reason = unsupportedReason(c);
    if (reason !== undefined) throw unsupportedColumn(db, table, c.name, reason, 'TableMap');
    const spec: ColumnSpec = {
      name: c.name,
      kind: columnKind(db, table, c, jsonColumns),
      unsigned: c.unsigned === true,
      fsp: typeof c.metadata?.['decimals'] === 'number' ? c.metadata['decimals'] : 0,
    };
    if (arrivesAsBytes(c.type, c.charset)) spec.charset = c.charset;
    if (c.type === T.YEAR) spec.year = true;
    if (c.type === T.BIT) spec.bit = true;
    return spec;
  });
  const key = (primaryKey ?? []).map((i) => {
    const col = columns[i];
    if (col === undefined) throw new Error(`${db}.${table}: primary key column #${i} is not in the TableMap`);
    return col.name;
  });
  return { db, table, columns: specs, key };
}
