import { jsonValidColumn } from './json-columns.js';
import type { Connection } from 'mysql2/promise';
import type { BinaryTextType } from '../decode/binary-text.js';
import { canDecodeCharset } from '../decode/charsets.js';
import { unsupportedColumn } from './table-schema.js';
import type { ColumnKind, ColumnSpec, TableSchema } from '../pipeline/types.js';

const KIND_BY_DATA_TYPE: Record<string, ColumnKind> = {
  tinyint: 'int', smallint: 'int', mediumint: 'int', int: 'int', integer: 'int', year: 'int',
  bigint: 'bigint', decimal: 'decimal', numeric: 'decimal', float: 'float', double: 'float', real: 'float',
  char: 'string', varchar: 'string', tinytext: 'string', text: 'string', mediumtext: 'string', longtext: 'string', enum: 'string',
  set: 'set',
  binary: 'binary', varbinary: 'binary', tinyblob: 'binary', blob: 'binary', mediumblob: 'binary', longblob: 'binary', bit: 'binary',
  geometry: 'geometry', point: 'geometry', linestring: 'geometry', polygon: 'geometry', multipoint: 'geometry',
  multilinestring: 'geometry', multipolygon: 'geometry', geometrycollection: 'geometry',
  date: 'date', datetime: 'datetime', timestamp: 'datetime', time: 'time', json: 'json',
  // MariaDB types over BINARY(16)/BINARY(4): the binlog carries their bytes (see ColumnSpec.binaryText).
  uuid: 'binary', inet4: 'binary', inet6: 'binary',
};

const BINARY_TEXT: ReadonlySet<string> = new Set<BinaryTextType>(['uuid', 'inet4', 'inet6']);

/**
 * A table's current schema from information_schema, in the same terms the binlog TableMap
 * gives the reader (used by the verifier and the snapshot, which read tables with SELECT).
 */
export async function currentSchema(conn: Connection, db: string, table: string): Promise<TableSchema> {
  const [cols] = await conn.query(
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType, DATETIME_PRECISION AS fsp, CHARACTER_SET_NAME AS charset
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [db, table],
  );
  const [checks] = await conn.query(
    'SELECT CHECK_CLAUSE AS c FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?',
    [db, table],
  );
  const json = new Set<string>();
  for (const r of checks as { c: string }[]) {
    const col = jsonValidColumn(r.c);
    if (col !== undefined) json.add(col.toLowerCase());
  }
  const columns: ColumnSpec[] = (cols as { name: string; dataType: string; columnType: string; fsp: unknown; charset: string | null }[]).map((c) => {
    const kind = json.has(c.name.toLowerCase()) ? 'json' : KIND_BY_DATA_TYPE[c.dataType.toLowerCase()];
    // The same refusals as the binlog reader's (src/mysql/table-schema.ts), so both sides agree.
    if (kind === undefined) throw unsupportedColumn(db, table, c.name, `column type ${c.columnType} is unknown to sdl`, 'information_schema');
    if (c.charset !== null && !canDecodeCharset(c.charset)) {
      throw unsupportedColumn(db, table, c.name, `character set ${c.charset} has no exact decoder in sdl`, 'information_schema');
    }
    const spec: ColumnSpec = { name: c.name, kind, unsigned: /unsigned/i.test(c.columnType), fsp: c.fsp === null ? 0 : Number(c.fsp) };
    const dataType = c.dataType.toLowerCase();
    if (dataType === 'year') spec.year = true;
    if (dataType === 'bit') spec.bit = true;
    if (BINARY_TEXT.has(dataType)) spec.binaryText = dataType as BinaryTextType;
    return spec;
  });
  const [keys] = await conn.query(
    `SELECT COLUMN_NAME AS name FROM information_schema.KEY_COLUMN_USAGE
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`,
    [db, table],
  );
  let key = (keys as { name: string }[]).map((k) => k.name);
  if (key.length === 0) key = await uniqueNotNullKey(conn, db, table);
  return { db, table, columns, key };
}

/** The first UNIQUE index whose columns are all NOT NULL (MariaDB promotes it to primary). */
async function uniqueNotNullKey(conn: Connection, db: string, table: string): Promise<string[]> {
  const [rows] = await conn.query(
    `SELECT s.INDEX_NAME AS idx, s.COLUMN_NAME AS name, c.IS_NULLABLE AS nullable
       FROM information_schema.STATISTICS s
       JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME
      WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.NON_UNIQUE = 0
      ORDER BY s.INDEX_NAME, s.SEQ_IN_INDEX`,
    [db, table],
  );
  const byIndex = new Map<string, { cols: string[]; ok: boolean }>();
  for (const r of rows as { idx: string; name: string; nullable: string }[]) {
    const e = byIndex.get(r.idx) ?? { cols: [], ok: true };
    e.cols.push(r.name);
    if (r.nullable === 'YES') e.ok = false;
    byIndex.set(r.idx, e);
  }
  for (const e of byIndex.values()) if (e.ok) return e.cols;
  return [];
}

/** Base tables of the source that the include filter selects. */
export async function listTables(conn: Connection, includesDb: (db: string) => boolean, includes: (db: string, t: string) => boolean): Promise<{ db: string; table: string }[]> {
  const [rows] = await conn.query("SELECT TABLE_SCHEMA AS db, TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY 1, 2");
  return (rows as { db: string; t: string }[]).filter((r) => includesDb(r.db) && includes(r.db, r.t)).map((r) => ({ db: r.db, table: r.t }));
}
