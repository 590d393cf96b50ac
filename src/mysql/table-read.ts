import type { Connection } from 'mysql2/promise';
import { SdlError } from '../errors.js';
import type { ColumnSpec, RawRow, RawValue, TableSchema } from '../pipeline/types.js';

/** A quoted MySQL identifier. */
export function ident(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

/** `SELECT` of every column of the table, in schema order (the order the binlog images have). */
export function selectAll(schema: TableSchema): string {
  return `SELECT ${schema.columns.map((c) => ident(c.name)).join(', ')} FROM ${ident(schema.db)}.${ident(schema.table)}`;
}

/** MariaDB's errno for a table dropped or renamed away, and for a read under a view older than the table's last DDL. */
export const ER_NO_SUCH_TABLE = 1146;
export const ER_TABLE_DEF_CHANGED = 1412;

/**
 * Up to `limit` rows in key order after `after` (the key values of the last row read; null
 * from the start) and, with `upTo`, not past that key: keyset pagination, so each chunk is
 * one index range read whatever the table size. The condition is spelled as nested ORs rather than a row comparison
 * `(a, b) > (?, ?)`, which MariaDB does not turn into an index range.
 * Run as a prepared statement (binary protocol): FLOAT and DOUBLE arrive as their exact bits,
 * as in the binlog, and with `exactOptions` every other value as exact text.
 */
export async function readChunk(conn: Connection, schema: TableSchema, after: readonly RawValue[] | null, limit: number, upTo?: readonly RawValue[]): Promise<RawRow[]> {
  const keys = schema.key.map(ident);
  const params: RawValue[] = [];
  const conds: string[] = [];
  if (after !== null) conds.push(keyBound(schema, after, '>', params));
  if (upTo !== undefined) conds.push(keyBound(schema, upTo, '<=', params));
  const where = conds.length === 0 ? '' : ` WHERE ${conds.map((c) => `(${c})`).join(' AND ')}`;
  // LIMIT is inlined: MariaDB refuses a placeholder there in some prepared-statement paths.
  const sql = `${selectAll(schema)}${where} ORDER BY ${keys.join(', ')} LIMIT ${Math.max(1, Math.floor(limit))}`;
  const [rows] = await conn.execute(sql, params);
  const chunk = rows as RawRow[];
  // A page that returns the row it was to start after would be read again forever: stop loudly.
  if (after !== null && chunk.some((r) => sameKey(keyOf(schema, r), after))) {
    throw new SdlError(
      'SNAPSHOT_KEY',
      `${schema.db}.${schema.table}: reading in key order after (${schema.key.join(', ')}) = ${JSON.stringify(after)} returned that row again, so the read would never end`,
      'permanent',
      `report this with the table's CREATE TABLE; meanwhile leave \`${schema.db}.${schema.table}\` out of mysql.include (SDL_INCLUDE)`,
    );
  }
  return chunk;
}

/**
 * `key > value` or `key <= value` in the key's order, spelled as nested ORs (the lexicographic
 * comparison) so MariaDB reads it as an index range; the parameters are appended to `params`.
 */
function keyBound(schema: TableSchema, value: readonly RawValue[], op: '>' | '<=', params: RawValue[]): string {
  const keys = schema.key.map(ident);
  const bound = keyBinding(schema);
  const strict = op === '>' ? '>' : '<';
  const ors: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const ands = keys.slice(0, i).map((k, j) => `${k} = ${bound[j]?.placeholder ?? '?'}`);
    ands.push(`${keys[i]} ${strict} ${bound[i]?.placeholder ?? '?'}`);
    ors.push(`(${ands.join(' AND ')})`);
    params.push(...value.slice(0, i + 1).map((v, j) => bound[j]?.param(v) ?? v));
  }
  if (op === '<=') {
    // The bound's own row is in the range.
    ors.push(`(${keys.map((k, j) => `${k} = ${bound[j]?.placeholder ?? '?'}`).join(' AND ')})`);
    params.push(...value.map((v, j) => bound[j]?.param(v) ?? v));
  }
  return ors.join(' OR ');
}

/**
 * The key of the table's last row in key order under the connection's current view (null:
 * the table is empty), in the form `readChunk` returns keys, to bound later reads with.
 */
export async function readLastKey(conn: Connection, schema: TableSchema): Promise<RawValue[] | null> {
  const keys = schema.key.map(ident);
  const [rows] = await conn.execute(`SELECT ${keys.join(', ')} FROM ${ident(schema.db)}.${ident(schema.table)} ORDER BY ${keys.map((k) => `${k} DESC`).join(', ')} LIMIT 1`);
  const row = (rows as RawRow[])[0];
  return row === undefined ? null : keyOf(schema, row);
}

function sameKey(a: readonly RawValue[], b: readonly RawValue[]): boolean {
  return a.length === b.length && a.every((v, i) => {
    const w = b[i];
    if (v instanceof Uint8Array && w instanceof Uint8Array) return Buffer.from(v).equals(Buffer.from(w));
    return v === w;
  });
}

/** The key values of a row read by `readChunk`, to continue after it. */
export function keyOf(schema: TableSchema, row: RawRow): RawValue[] {
  return schema.key.map((k) => row[k] ?? null);
}

/**
 * Keyset pagination needs `WHERE k > ?` and `ORDER BY k` to agree. They do for every column
 * kind but ENUM and SET, which sort by their index number and compare with a string as text:
 * pages would skip or repeat rows. Such a key is refused loudly rather than copied wrong.
 */
export async function assertKeysetOrder(conn: Connection, schema: TableSchema): Promise<void> {
  const [rows] = await conn.query(
    "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND DATA_TYPE IN ('enum', 'set')",
    [schema.db, schema.table],
  );
  const bad = (rows as { name: string; type: string }[]).find((r) => schema.key.includes(r.name));
  if (bad === undefined) return;
  throw new SdlError(
    'SNAPSHOT_KEY',
    `${schema.db}.${schema.table}.${bad.name}: the key contains a ${bad.type} column, which MySQL orders by index but compares as text, so the initial snapshot cannot page through it exactly`,
    'permanent',
    `leave \`${schema.db}.${schema.table}\` out of mysql.include (SDL_INCLUDE) for the snapshot, or give the table a primary key without ENUM/SET columns`,
  );
}

/**
 * The rows whose key values are among `keys` (each in schema.key order), by one prepared
 * statement per 100 keys; absent keys return nothing.
 */
export async function readKeys(conn: Connection, schema: TableSchema, keys: readonly (readonly RawValue[])[]): Promise<RawRow[]> {
  const cols = schema.key.map(ident);
  const bound = keyBinding(schema);
  const out: RawRow[] = [];
  for (let i = 0; i < keys.length; i += 100) {
    const part = keys.slice(i, i + 100);
    const where = part.map(() => `(${cols.map((c, j) => `${c} = ${bound[j]?.placeholder ?? '?'}`).join(' AND ')})`).join(' OR ');
    const params = part.flatMap((key) => key.map((v, j) => bound[j]?.param(v) ?? v));
    const [rows] = await conn.execute(`${selectAll(schema)} WHERE ${where}`, params);
    out.push(...(rows as RawRow[]));
  }
  return out;
}

/** How a key value read by a SELECT goes back into a WHERE on its column: placeholder and parameter. */
interface KeyBinding {
  placeholder: string;
  param(v: RawValue): RawValue;
}

const AS_IS: KeyBinding = { placeholder: '?', param: (v) => v };

/**
 * A BIT value comes back as bytes, and bytes bound as a parameter are a string, which MySQL
 * compares with a BIT column as a number parsed from text (b'1' > '\x01' is true): keyset
 * pages never advanced and `readKeys` found nothing. It goes back as the unsigned integer the
 * bytes spell, cast so no double rounding touches 64-bit values.
 */
const BIT: KeyBinding = {
  placeholder: 'CAST(? AS UNSIGNED)',
  param: (v) => (v instanceof Uint8Array ? BigInt('0x0' + Buffer.from(v).toString('hex')).toString() : v),
};

function keyBinding(schema: TableSchema): KeyBinding[] {
  const byName = new Map<string, ColumnSpec>(schema.columns.map((c) => [c.name, c]));
  return schema.key.map((k) => (byName.get(k)?.bit === true ? BIT : AS_IS));
}
