/**
 * Source names → MongoDB names (README "Names"). MySQL allows database, table and column names
 * that MongoDB or FerretDB refuse (`t$1`, `a.b`, `$x`, `my-db`, 64-character names whose
 * namespace is too long) or that collide with sdl's own fields (`_id`, `_sdl`). Each name is
 * mapped deterministically and injectively, target-independently (the same mirrors on MongoDB
 * and FerretDB), and names that are already fine map to themselves:
 *
 * - every character outside the allowed set, and the escape character `-` itself, becomes `-`
 *   followed by two lowercase hex digits per UTF-8 byte (`t$1` → `t-241`, `é` in a db name →
 *   `-c3-a9`); a `-` in a mapped name therefore always starts an escape, so decoding is unique;
 * - a mapped name over its byte limit is cut (at a character or escape boundary) and ends in
 *   `--` plus 16 hex digits of the SHA-256 of the source name; `--` never occurs in an unhashed
 *   name, so hashed and unhashed names cannot meet, and two hashed names meet only on a 64-bit
 *   hash collision.
 *
 * Measured limits (FerretDB 1.24 on SQLite; MongoDB's documented rules): database names
 * FerretDB `[A-Za-z0-9_-]{1,63}`, MongoDB < 64 bytes without `/\. "$*<>:|?`; collection names
 * without `$` or NUL, not starting with `.` or `system.`, no `"` on FerretDB, at most 235 bytes
 * on FerretDB, and `db.collection` at most 255 bytes on MongoDB; field names without `.`, not
 * starting with `$`, no NUL (FerretDB). MongoDB refuses two databases whose names differ only
 * by case; that cannot be mapped away injectively, so `sdl run` refuses to start (`names-check.ts`).
 */
import { createHash } from 'node:crypto';

const ESCAPE = '-';
const HASH_HEX = 16;
/** MongoDB: fewer than 64 bytes; FerretDB: at most 63 characters of [A-Za-z0-9_-]. */
export const DATABASE_MAX_BYTES = 63;
/** 255-byte namespace − 63-byte database − the dot; FerretDB's own limit (235) is higher. */
export const COLLECTION_MAX_BYTES = 191;

type Keep = (ch: string, index: number, name: string) => boolean;

const keepInDatabase: Keep = (ch) => /^[A-Za-z0-9_]$/.test(ch);
const keepInCollection: Keep = (ch, i, name) =>
  ch !== '$' && ch !== '"' && ch !== '\u0000' && !(i === 0 && ch === '.') && !(i === 6 && ch === '.' && name.startsWith('system.'));
const keepInField: Keep = (ch, i, name) =>
  ch !== '.' && ch !== '\u0000' && !(i === 0 && ch === '$') && !(i === 0 && (name === '_id' || name === '_sdl'));

function escapeName(name: string, keep: Keep, maxBytes: number): string {
  const tokens: string[] = [];
  let index = 0;
  for (const ch of name) {
    if (ch !== ESCAPE && keep(ch, index, name)) tokens.push(ch);
    else for (const byte of Buffer.from(ch, 'utf8')) tokens.push(`${ESCAPE}${byte.toString(16).padStart(2, '0')}`);
    index += ch.length;
  }
  const mapped = tokens.join('');
  if (maxBytes === Infinity || Buffer.byteLength(mapped, 'utf8') <= maxBytes) return mapped;
  const budget = maxBytes - 2 - HASH_HEX;
  let prefix = '';
  let bytes = 0;
  for (const t of tokens) {
    const b = Buffer.byteLength(t, 'utf8');
    if (bytes + b > budget) break;
    prefix += t;
    bytes += b;
  }
  return `${prefix}${ESCAPE}${ESCAPE}${createHash('sha256').update(name, 'utf8').digest('hex').slice(0, HASH_HEX)}`;
}

/** Names are few (the source's tables and columns) and fieldName runs per column per row. */
type Cache = Map<string, string>;
const databases: Cache = new Map();
const collections: Cache = new Map();
const fields: Cache = new Map();

function memo(cache: Cache, name: string, map: (name: string) => string): string {
  let out = cache.get(name);
  if (out === undefined) {
    out = map(name);
    // The bound only guards against a source with unbounded distinct names.
    if (cache.size > 100_000) cache.clear();
    cache.set(name, out);
  }
  return out;
}

/** The MongoDB database of a source database's mirrors (unless `databaseMap` names one). */
export function databaseName(db: string): string {
  return memo(databases, db, (n) => escapeName(n, keepInDatabase, DATABASE_MAX_BYTES));
}

/** The mirror collection of a source table. */
export function collectionName(table: string): string {
  return memo(collections, table, (n) => escapeName(n, keepInCollection, COLLECTION_MAX_BYTES));
}

/** The document field of a source column, in mirrors, event-log images, composite `_id`s and `_sdl.raw`. */
export function fieldName(column: string): string {
  return memo(fields, column, (n) => escapeName(n, keepInField, Infinity));
}

/**
 * The source name a database or collection name was mapped from (`databaseName` or
 * `collectionName`), or undefined when none can be told: a hashed name (only its prefix
 * survives), or a name no mapping produces (a user's own collection).
 */
export function sourceName(mapped: string, kind: 'database' | 'collection'): string | undefined {
  if (mapped.includes(`${ESCAPE}${ESCAPE}`)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < mapped.length; ) {
    const hex = mapped[i] === ESCAPE ? /^[0-9a-f]{2}/.exec(mapped.slice(i + 1, i + 3))?.[0] : undefined;
    if (mapped[i] === ESCAPE && hex === undefined) return undefined;
    if (hex !== undefined) {
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      const ch = String.fromCodePoint(mapped.codePointAt(i) ?? 0);
      bytes.push(...Buffer.from(ch, 'utf8'));
      i += ch.length;
    }
  }
  const name = Buffer.from(bytes).toString('utf8');
  return (kind === 'database' ? databaseName(name) : collectionName(name)) === mapped ? name : undefined;
}
