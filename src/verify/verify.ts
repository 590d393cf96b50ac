import { BSON, type Document, type MongoClient } from 'mongodb';

const { EJSON } = BSON;
import { decodeBatch } from '../decode/decode-changes.js';
import { rehydrate } from '../decode/rehydrate.js';
import type { DecodeCapabilities } from '../decode/wire.js';
import { keyIdentity } from '../mongo/key-identity.js';
import { mirrorNamespace, type DatabaseMap } from '../mongo/layout.js';
import { connectExact } from '../mysql/connection.js';
import { IncludeFilter } from '../mysql/include-filter.js';
import { currentSchema, listTables } from '../mysql/information-schema.js';
import { selectAll } from '../mysql/table-read.js';
import type { DecodedChange, RawRow, RowChange, TableSchema } from '../pipeline/types.js';

export interface TableReport {
  db: string;
  table: string;
  sourceRows: number;
  mirrorDocs: number;
  missing: string[];
  extra: string[];
  different: { key: string; field: string; mysql: string; mongo: string }[];
  /** No key: mirrored only in the event log, so not compared here. */
  skipped?: string;
}

export interface VerifyReport {
  ok: boolean;
  tables: TableReport[];
}

export interface VerifyOptions {
  mysqlUrl: string;
  include: readonly string[];
  mongo: MongoClient;
  databaseMap: DatabaseMap;
  caps: DecodeCapabilities;
  /** Cap on listed differences per table. */
  maxListed?: number;
}

/**
 * Reads every included table from MySQL and its mirror from MongoDB and compares them field
 * by field in canonical Extended JSON, so a value stored with the wrong BSON type (an Int32
 * where a Double belongs, a sub-document where a Decimal128 belongs) counts as different.
 */
export async function verify(opts: VerifyOptions): Promise<VerifyReport> {
  const conn = await connectExact(opts.mysqlUrl);
  const max = opts.maxListed ?? 20;
  try {
    await conn.query("SET SESSION time_zone = '+00:00'");
    const filter = new IncludeFilter(opts.include);
    const tables = await listTables(conn, (d) => filter.includesDb(d), (d, t) => filter.includes(d, t));
    const reports: TableReport[] = [];
    for (const { db, table } of tables) {
      const schema = await currentSchema(conn, db, table);
      const report: TableReport = { db, table, sourceRows: 0, mirrorDocs: 0, missing: [], extra: [], different: [] };
      reports.push(report);
      if (schema.key.length === 0) {
        report.skipped = 'no primary or unique NOT NULL key: event log only';
        continue;
      }
      const source = await sourceDocs(conn, schema, opts.caps);
      const expected = source.byKey;
      // Rows, not distinct `_id`s: two rows sharing one `_id` must not hide each other.
      report.sourceRows = source.rows;
      for (const [id, keys] of source.collisions) {
        if (report.different.length < max) report.different.push({ key: id, field: '_id', mysql: `${keys.length} source rows map to this _id: ${keys.join(' ')}`, mongo: 'one document' });
      }
      const ns = mirrorNamespace(db, table, opts.databaseMap);
      const docs = await opts.mongo.db(ns.db).collection(ns.collection).find({}, { promoteValues: false, promoteLongs: false }).toArray();
      report.mirrorDocs = docs.length;
      const seen = new Set<string>();
      for (const doc of docs) {
        // Matched as MongoDB matches `_id`s, then compared exactly (a Long stored as Int32 differs).
        const id = keyIdentity(doc['_id']);
        const k = canonical(doc['_id']);
        seen.add(id);
        const want = expected.get(id);
        if (want === undefined) {
          if (report.extra.length < max) report.extra.push(k);
          continue;
        }
        if (want.id !== k && report.different.length < max) report.different.push({ key: k, field: '_id', mysql: want.id, mongo: k });
        compareDoc(report, k, want, doc, max);
      }
      for (const [id, want] of expected) if (!seen.has(id) && report.missing.length < max) report.missing.push(want.id);
      if (report.missing.length === 0 && expected.size > seen.size) report.missing.push(`(${expected.size - seen.size} keys)`);
    }
    const ok = reports.every((r) => r.missing.length === 0 && r.extra.length === 0 && r.different.length === 0 && (r.skipped !== undefined || r.sourceRows === r.mirrorDocs));
    return { ok, tables: reports };
  } finally {
    await conn.end();
  }
}

export interface Expected {
  /** The `_id` sdl must have written, in canonical Extended JSON. */
  id: string;
  fields: Record<string, string>;
  raw: Record<string, string> | undefined;
  h: string | null;
}

export interface SourceDocs {
  rows: number;
  /** By `_id` identity under MongoDB equality (`keyIdentity`). */
  byKey: Map<string, Expected>;
  /** `_id`s that more than one source row maps to, with those rows' key values. */
  collisions: Map<string, string[]>;
}

async function sourceDocs(conn: Awaited<ReturnType<typeof connectExact>>, schema: TableSchema, caps: DecodeCapabilities): Promise<SourceDocs> {
  // The binary protocol (a prepared statement) carries FLOAT and DOUBLE as their exact bits, as
  // the binlog does; the text protocol prints decimals that do not always round-trip.
  const [rows] = await conn.execute(selectAll(schema));
  const changes: RowChange[] = (rows as RawRow[]).map((row, i) => ({ op: 'insert', schema: 0, before: null, after: row, id: `verify#${i}`, seq: '' }));
  return indexSource(schema, rehydrate(decodeBatch({ transactions: [{ gtid: undefined, ts: 0, schemas: [schema], changes }], caps })));
}

/** The expected mirror documents of decoded source rows, by `_id` under MongoDB equality; rows sharing one `_id` are collisions. */
export function indexSource(schema: TableSchema, decoded: readonly DecodedChange[]): SourceDocs {
  const out: SourceDocs = { rows: decoded.length, byKey: new Map(), collisions: new Map() };
  // The exact source text where the field holds a rounded value, so a collision shows both keys.
  const sourceKey = (e: Expected): string => JSON.stringify(schema.key.map((k) => e.raw?.[k] ?? e.fields[k] ?? null));
  for (const c of decoded) {
    const fields: Record<string, string> = {};
    for (const [name, v] of Object.entries(c.after ?? {})) fields[name] = canonical(v);
    const want: Expected = { id: canonical(c.key), fields, raw: c.raw, h: c.h };
    const identity = keyIdentity(c.key);
    const first = out.byKey.get(identity);
    if (first === undefined) {
      out.byKey.set(identity, want);
      continue;
    }
    out.collisions.set(first.id, [...(out.collisions.get(first.id) ?? [sourceKey(first)]), sourceKey(want)]);
  }
  return out;
}

function compareDoc(report: TableReport, key: string, want: Expected, doc: Document, max: number): void {
  const note = (field: string, mysql: string, mongo: string): void => {
    if (report.different.length < max) report.different.push({ key, field, mysql, mongo });
  };
  const names = new Set([...Object.keys(want.fields), ...Object.keys(doc).filter((n) => n !== '_id' && n !== '_sdl')]);
  for (const name of names) {
    const got = name in doc ? canonical(doc[name]) : '<absent>';
    const exp = want.fields[name] ?? '<absent>';
    if (got !== exp) note(name, exp, got);
  }
  const sdl = (doc['_sdl'] ?? {}) as Document;
  const gotRaw = canonical(sdl['raw'] ?? {});
  const expRaw = canonical(want.raw ?? {});
  if (gotRaw !== expRaw) note('_sdl.raw', expRaw, gotRaw);
  // A DROP/RENAME COLUMN edits mirror documents in place and leaves their hash null (unknown); the fields above still decide.
  if (want.h !== null && sdl['h'] !== null && sdl['h'] !== want.h) note('_sdl.h', want.h, String(sdl['h']));
}

/** Canonical Extended JSON with object keys sorted: equal strings ⇔ equal BSON values and types. */
export function canonical(v: unknown): string {
  return JSON.stringify(sortKeys(EJSON.serialize({ v: v === undefined ? null : v }, { relaxed: false })));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
  }
  return v;
}
