import { type AnyBulkWriteOperation, type ClientSession, type Document, type Filter, type MongoClient } from 'mongodb';
import type { DecodedChange } from '../pipeline/types.js';
import { DUPLICATE_KEY } from './errors.js';
import { keyIdentity } from './key-identity.js';
import { mirrorNamespace, type DatabaseMap, type Namespace } from './layout.js';
import { bsonSize, chunk, DEFAULT_CHUNK, MAX_DOC_BYTES, runBulk, TOO_LARGE_CODE, type ChunkLimits, type Rejection } from './write-shape.js';

/** The one write a key gets after coalescing a batch: the last image, or its removal. */
export interface MirrorOp {
  kind: 'upsert' | 'delete';
  key: unknown;
  /** The change that decided this op (its seq guards the write). */
  change: DecodedChange;
}

export interface MirrorGroup {
  ns: Namespace;
  ops: MirrorOp[];
}

export interface MirrorCounts {
  upserted: number;
  replaced: number;
  deleted: number;
  /** Upserts refused because the stored document is newer (E11000 on the guarded upsert). */
  skippedOlder: number;
  rejected: Rejection[];
}

/**
 * Per (target namespace, key), keeps only the last change of the batch. A key-changing
 * update removes the old key and writes the new one. Keyless tables have no mirror.
 */
export function coalesce(changes: readonly DecodedChange[], databaseMap: DatabaseMap = {}): MirrorGroup[] {
  const groups = new Map<string, { ns: Namespace; ops: Map<string, MirrorOp> }>();
  for (const change of changes) {
    if (change.key === null || change.key === undefined) continue;
    const ns = mirrorNamespace(change.db, change.table, databaseMap);
    const nsId = `${ns.db}\u0000${ns.collection}`;
    let group = groups.get(nsId);
    if (group === undefined) {
      group = { ns, ops: new Map() };
      groups.set(nsId, group);
    }
    if (change.op === 'update' && change.oldKey !== undefined && change.oldKey !== null) {
      const oldId = keyIdentity(change.oldKey);
      if (oldId !== keyIdentity(change.key)) {
        group.ops.delete(oldId);
        group.ops.set(oldId, { kind: 'delete', key: change.oldKey, change });
      }
    }
    const id = keyIdentity(change.key);
    // Re-inserting moves the key to the end: ops stay in the order of their deciding change.
    group.ops.delete(id);
    group.ops.set(id, { kind: change.op === 'delete' ? 'delete' : 'upsert', key: change.key, change });
  }
  return [...groups.values()].map((g) => ({ ns: g.ns, ops: [...g.ops.values()] }));
}

/** The mirror document: key as `_id`, the row image, and where it came from. */
export function mirrorDoc(key: unknown, c: DecodedChange): Document {
  const doc: Document = { _id: key };
  Object.assign(doc, c.after ?? {});
  doc['_id'] = key;
  const sdl: Document = { pos: c.seq, gtid: c.gtid ?? null, op: c.op, ts: new Date(c.ts), h: c.h };
  if (c.raw !== undefined && Object.keys(c.raw).length > 0) sdl['raw'] = c.raw;
  doc['_sdl'] = sdl;
  return doc;
}

/** The guarded write: only where nothing newer is stored (`_sdl.pos` is a zero-padded, sortable seq). */
export function mirrorWrite(op: MirrorOp): { write: AnyBulkWriteOperation<Document>; size: number } {
  // Keys are any BSON value, not the ObjectId the driver's Filter type assumes.
  const filter = { _id: op.key, '_sdl.pos': { $lte: op.change.seq } } as Filter<Document>;
  if (op.kind === 'delete') return { write: { deleteOne: { filter } }, size: bsonSize(filter) };
  const replacement = mirrorDoc(op.key, op.change);
  return { write: { replaceOne: { filter, replacement, upsert: true } }, size: bsonSize(replacement) };
}

/**
 * How mirror documents are written. `guarded-upsert`: one replace/delete per key whose filter
 * carries the position guard, atomic per document (the default). `replace-set`: per batch and
 * collection, read the stored positions of all its keys, drop the older ops, delete the rest
 * by `$in` and insert the new images; for servers whose single-document updates are slow
 * (FerretDB 1.24 on SQLite scans the collection for each one: ~27 ms per update at 5k
 * documents, against ~0.3 ms per document for `$in` deletes and inserts). Readers may see a
 * key missing between the delete and the insert; a crash there is repaired by the replay.
 */
export type MirrorStrategy = 'guarded-upsert' | 'replace-set';

export async function applyMirrors(
  client: MongoClient,
  groups: readonly MirrorGroup[],
  opts: { session?: ClientSession | undefined; limits?: ChunkLimits; strategy?: MirrorStrategy; fence?: (() => Promise<void>) | undefined } = {},
): Promise<MirrorCounts> {
  const out: MirrorCounts = { upserted: 0, replaced: 0, deleted: 0, skippedOlder: 0, rejected: [] };
  const limits = opts.limits ?? DEFAULT_CHUNK;
  const fence = opts.fence ?? ((): Promise<void> => Promise.resolve());
  if (opts.strategy === 'replace-set') {
    for (const group of groups) await replaceSet(client, group, out, limits, fence);
    return out;
  }
  for (const { ns, ops } of groups) {
    const coll = client.db(ns.db).collection<Document>(ns.collection);
    const target = { kind: 'mirror' as const, db: ns.db, collection: ns.collection };
    const writes: { op: MirrorOp; write: AnyBulkWriteOperation<Document>; size: number }[] = [];
    for (const op of ops) {
      const w = mirrorWrite(op);
      if (w.size > MAX_DOC_BYTES) {
        out.rejected.push({ change: op.change, target, mirror: { kind: op.kind, key: op.key }, reason: { code: TOO_LARGE_CODE, message: `mirror document is ${w.size} bytes, over the ${MAX_DOC_BYTES} limit` } });
      } else {
        writes.push({ op, ...w });
      }
    }
    for (const run of chunk(writes, (w) => w.size, { ops: Math.min(limits.ops, limits.updateOps ?? limits.ops), bytes: limits.bytes })) {
      await fence();
      const { counts, failures } = await runBulk(() => coll.bulkWrite(run.map((w) => w.write), { ordered: false, session: opts.session }));
      if (failures.length === 0) {
        out.upserted += counts.upserted;
        out.replaced += counts.matched;
        out.deleted += counts.deleted;
        continue;
      }
      // FerretDB 1.x stops an unordered update at its first error, reports it at index 0 and
      // counts nothing it did write. So a chunk with any failure is redone one write at a time:
      // every write is guarded and idempotent, and single answers cannot be misattributed.
      for (const item of run) {
        await fence();
        const one = await runBulk(() => coll.bulkWrite([item.write], { ordered: true, session: opts.session }));
        out.upserted += one.counts.upserted;
        out.replaced += one.counts.matched;
        out.deleted += one.counts.deleted;
        const f = one.failures[0];
        if (f === undefined) continue;
        // The guard filtered the stored document out, so the upsert collided with it: it is newer.
        if (f.code === DUPLICATE_KEY && item.op.kind === 'upsert') out.skippedOlder++;
        else out.rejected.push({ change: item.op.change, target, mirror: { kind: item.op.kind, key: item.op.key }, reason: { code: f.code, message: f.message } });
      }
    }
  }
  return out;
}

const IN_CHUNK = 1000;

async function replaceSet(client: MongoClient, { ns, ops }: MirrorGroup, out: MirrorCounts, limits: ChunkLimits, fence: () => Promise<void>): Promise<void> {
  const coll = client.db(ns.db).collection<Document>(ns.collection);
  const target = { kind: 'mirror' as const, db: ns.db, collection: ns.collection };
  const stored = new Map<string, string>();
  for (let i = 0; i < ops.length; i += IN_CHUNK) {
    const keys = ops.slice(i, i + IN_CHUNK).map((o) => o.key);
    const found = await coll.find({ _id: { $in: keys } } as Filter<Document>, { projection: { '_sdl.pos': 1 } }).toArray();
    for (const d of found) {
      const pos = (d['_sdl'] as { pos?: unknown } | undefined)?.pos;
      stored.set(keyIdentity(d['_id']), typeof pos === 'string' ? pos : '');
    }
  }
  const live: { op: MirrorOp; doc: Document | undefined; size: number }[] = [];
  for (const op of ops) {
    const pos = stored.get(keyIdentity(op.key));
    if (pos !== undefined && pos > op.change.seq) {
      out.skippedOlder++;
      continue;
    }
    const doc = op.kind === 'upsert' ? mirrorDoc(op.key, op.change) : undefined;
    const size = doc === undefined ? 0 : bsonSize(doc);
    if (size > MAX_DOC_BYTES) {
      // Rejected before anything is deleted: the stored image stays until the dead letter is replayed.
      out.rejected.push({ change: op.change, target, mirror: { kind: op.kind, key: op.key }, reason: { code: TOO_LARGE_CODE, message: `mirror document is ${size} bytes, over the ${MAX_DOC_BYTES} limit` } });
      continue;
    }
    live.push({ op, doc, size });
  }
  for (let i = 0; i < live.length; i += IN_CHUNK) {
    const keys = live.slice(i, i + IN_CHUNK).filter((l) => stored.has(keyIdentity(l.op.key))).map((l) => l.op.key);
    if (keys.length === 0) continue;
    await fence();
    out.deleted += (await coll.deleteMany({ _id: { $in: keys } } as Filter<Document>)).deletedCount;
  }
  const inserts = live.filter((l): l is { op: MirrorOp; doc: Document; size: number } => l.doc !== undefined);
  for (const run of chunk(inserts, (l) => l.size, limits)) {
    await fence();
    const { counts, failures } = await runBulk(() => coll.bulkWrite(run.map((l) => ({ insertOne: { document: l.doc } })), { ordered: false }));
    out.upserted += counts.inserted;
    for (const f of failures) {
      const item = run[f.index];
      if (item === undefined) continue;
      out.rejected.push({ change: item.op.change, target, mirror: { kind: item.op.kind, key: item.op.key }, reason: { code: f.code, message: f.message } });
    }
  }
  // Deletes of keys that were replaced are not deletes of rows.
  const replaced = inserts.filter((l) => stored.has(keyIdentity(l.op.key))).length;
  out.deleted -= replaced;
  out.replaced += replaced;
  out.upserted -= replaced;
}
