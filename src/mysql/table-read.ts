import type { Connection } from 'mysql2/promise';
import type { RawRow, RawValue, TableSchema } from '../pipeline/types.js';

/** A quoted MySQL identifier. */
export function ident(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

/** `SELECT` of every column of the table, in schema order (the order the binlog images have). */
export function selectAll(schema: TableSchema): string {
  return `SELECT ${schema.columns.map((c) => ident(c.name)).join(', ')} FROM ${ident(schema.db)}.${ident(schema.table)}`;
}

/**
 * Up to `limit` rows in key order after `after` (the key values of the last row read; null
 * from the start): keyset pagination, so each chunk is one index range read whatever the
 * table size. The condition is spelled as nested ORs rather than a row comparison
 * `(a, b) > (?, ?)`, which MariaDB does not turn into an index range.
 * Run as a prepared statement (binary protocol): FLOAT and DOUBLE arrive as their exact bits,
 * as in the binlog, and with `exactOptions` every other value as exact text.
 */
export async function readChunk(conn: Connection, schema: TableSchema, after: readonly RawValue[] | null, limit: number): Promise<RawRow[]> {
  const keys = schema.key.map(ident);
  const params: RawValue[] = [];
  let where = '';
  if (after !== null) {
    const ors: string[] = [];
    for (let i = 0; i < keys.length; i++) {
      const ands = keys.slice(0, i).map((k) => `${k} = ?`);
      ands.push(`${keys[i]} > ?`);
      ors.push(`(${ands.join(' AND ')})`);
      params.push(...after.slice(0, i + 1));
    }
    where = ` WHERE ${ors.join(' OR ')}`;
  }
  // LIMIT is inlined: MariaDB refuses a placeholder there in some prepared-statement paths.
  const sql = `${selectAll(schema)}${where} ORDER BY ${keys.join(', ')} LIMIT ${Math.max(1, Math.floor(limit))}`;
  const [rows] = await conn.execute(sql, params);
  return rows as RawRow[];
}

/** The key values of a row read by `readChunk`, to continue after it. */
export function keyOf(schema: TableSchema, row: RawRow): RawValue[] {
  return schema.key.map((k) => row[k] ?? null);
}
