import type { ColumnKind, ColumnSpec, TableSchema } from '../pipeline/types.js';

/** MySQL binlog column type codes (include/mysql_com.h `enum_field_types`). */
const T = {
  DECIMAL: 0, TINY: 1, SHORT: 2, LONG: 3, FLOAT: 4, DOUBLE: 5, TIMESTAMP: 7, LONGLONG: 8,
  INT24: 9, DATE: 10, TIME: 11, DATETIME: 12, YEAR: 13, NEWDATE: 14, VARCHAR: 15, BIT: 16,
  TIMESTAMP2: 17, DATETIME2: 18, TIME2: 19, JSON: 245, NEWDECIMAL: 246, ENUM: 247, SET: 248,
  TINY_BLOB: 249, MEDIUM_BLOB: 250, LONG_BLOB: 251, BLOB: 252, VAR_STRING: 253, STRING: 254,
  GEOMETRY: 255,
} as const;

/** The parts of a zongji TableMap column this module reads. */
export interface BinlogColumn {
  name: string;
  type: number;
  charset: string | null;
  metadata?: Record<string, unknown>;
  unsigned?: boolean;
}

export function columnKind(col: BinlogColumn, jsonColumns: ReadonlySet<string>): ColumnKind {
  const kind = binlogKind(col);
  // MariaDB JSON is LONGTEXT with a json_valid check. The check list is today's: a column of the
  // same name that was not text at this row's position keeps the kind its own TableMap says.
  return kind === 'string' && jsonColumns.has(col.name) ? 'json' : kind;
}

function binlogKind(col: BinlogColumn): ColumnKind {
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
      throw new Error(`column ${col.name}: unsupported binlog column type ${col.type}`);
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
  const specs: ColumnSpec[] = columns.map((c) => ({
    name: c.name,
    kind: columnKind(c, jsonColumns),
    unsigned: c.unsigned === true,
    fsp: typeof c.metadata?.['decimals'] === 'number' ? c.metadata['decimals'] : 0,
  }));
  const key = (primaryKey ?? []).map((i) => {
    const col = columns[i];
    if (col === undefined) throw new Error(`${db}.${table}: primary key column #${i} is not in the TableMap`);
    return col.name;
  });
  return { db, table, columns: specs, key };
}
