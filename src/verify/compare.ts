import { createHash } from 'node:crypto';
import { BSON, type Document } from 'mongodb';
import { keyIdentity } from '../mongo/key-identity.js';
import type { DecodedChange, TableSchema } from '../pipeline/types.js';

const { EJSON } = BSON;

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

export interface FieldDiff {
  key: string;
  field: string;
  mysql: string;
  mongo: string;
}

/** The mirror document a decoded source row must have, in canonical form. */
export function expectedOf(c: DecodedChange): Expected {
  const fields: Record<string, string> = {};
  for (const [name, v] of Object.entries(c.after ?? {})) fields[name] = canonical(v);
  return { id: canonical(c.key), fields, raw: c.raw, h: c.h };
}

/** The expected mirror documents of decoded source rows, by `_id` under MongoDB equality; rows sharing one `_id` are collisions. */
export function indexSource(schema: TableSchema, decoded: readonly DecodedChange[]): SourceDocs {
  const out: SourceDocs = { rows: decoded.length, byKey: new Map(), collisions: new Map() };
  for (const c of decoded) {
    const want = expectedOf(c);
    const identity = keyIdentity(c.key);
    const first = out.byKey.get(identity);
    if (first === undefined) {
      out.byKey.set(identity, want);
      continue;
    }
    out.collisions.set(first.id, [...(out.collisions.get(first.id) ?? [sourceKey(schema, first)]), sourceKey(schema, want)]);
  }
  return out;
}

/** The exact source text where the field holds a rounded value, so a collision shows both keys. */
export function sourceKey(schema: TableSchema, e: Expected): string {
  return JSON.stringify(schema.key.map((k) => e.raw?.[k] ?? e.fields[k] ?? null));
}

/**
 * Every way a mirror document differs from the expected one: `_id` (compared exactly: a Long
 * stored as Int32 differs), each field, `_sdl.raw` and the hash. Empty when equal.
 */
export function compareDoc(want: Expected, doc: Document): FieldDiff[] {
  const key = canonical(doc['_id']);
  const out: FieldDiff[] = [];
  if (want.id !== key) out.push({ key, field: '_id', mysql: want.id, mongo: key });
  const names = new Set([...Object.keys(want.fields), ...Object.keys(doc).filter((n) => n !== '_id' && n !== '_sdl')]);
  for (const name of names) {
    const got = name in doc ? canonical(doc[name]) : '<absent>';
    const exp = want.fields[name] ?? '<absent>';
    if (got !== exp) out.push({ key, field: name, mysql: exp, mongo: got });
  }
  const sdl = (doc['_sdl'] ?? {}) as Document;
  const gotRaw = canonical(sdl['raw'] ?? {});
  const expRaw = canonical(want.raw ?? {});
  if (gotRaw !== expRaw) out.push({ key, field: '_sdl.raw', mysql: expRaw, mongo: gotRaw });
  // A DROP/RENAME COLUMN edits mirror documents in place and leaves their hash null (unknown); the fields above still decide.
  if (want.h !== null && sdl['h'] !== null && sdl['h'] !== want.h) out.push({ key, field: '_sdl.h', mysql: want.h, mongo: String(sdl['h']) });
  return out;
}

/**
 * A mirror document as the first pass keeps it: a SHA-256 digest of everything `compareDoc`
 * compares (`_id`, fields, `_sdl.raw`, and the hash unless it is null), so a whole table's
 * documents can be held while its rows are read. Equal digests mean `compareDoc` finds nothing
 * (up to a SHA-256 collision); unequal ones only that the document must be read again and
 * compared field by field. `hNull`: the document's hash is null, which `compareDoc` skips.
 */
export interface DocDigest {
  d: string;
  hNull: boolean;
}

export function docDigest(doc: Document): DocDigest {
  const sdl = (doc['_sdl'] ?? {}) as Document;
  const names = Object.keys(doc).filter((n) => n !== '_id' && n !== '_sdl').sort();
  const h: unknown = sdl['h'];
  // A hash that is not a string (absent, another type) never equals an expected one: tagged apart.
  const hTag = h === null ? null : typeof h === 'string' ? h : `\u0000${canonical(h)}`;
  return { d: digest([canonical(doc['_id']), names.map((n) => [n, canonical(doc[n])]), canonical(sdl['raw'] ?? {}), hTag]), hNull: h === null };
}

/**
 * Whether the expected document certainly equals the one `got` digests (false: compare the
 * document itself). An expected hash of null is compared by `compareDoc` only.
 */
export function digestMatches(want: Expected, got: DocDigest): boolean {
  if (want.h === null && !got.hNull) return false;
  const names = Object.keys(want.fields).sort();
  return digest([want.id, names.map((n) => [n, want.fields[n]]), canonical(want.raw ?? {}), got.hNull ? null : want.h]) === got.d;
}

function digest(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64');
}

/** `_sdl.pos` of a mirror document ('' when it has none). */
export function docPos(doc: Document): string {
  const pos = (doc['_sdl'] as { pos?: unknown } | undefined)?.pos;
  return typeof pos === 'string' ? pos : '';
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
