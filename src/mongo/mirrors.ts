import { BSON, type AnyBulkWriteOperation, type ClientSession, type Document, type Filter, type MongoClient } from 'mongodb';
import type { DecodedChange } from '../pipeline/types.js';
import { DUPLICATE_KEY } from './errors.js';
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

/** Identity of a key value for coalescing: canonical EJSON keeps Int32 5 and Long 5 apart, as MongoDB does. */
function keyId(key: unknown): string {
  return BSON.EJSON.stringify({ k: key }, { relaxed: false });
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
      const oldId = keyId(change.oldKey);
      if (oldId !== keyId(change.key)) {
        group.ops.delete(oldId);
        group.ops.set(oldId, { kind: 'delete', key: change.oldKey, change });
      }
    }
    const id = keyId(change.key);
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

export async function applyMirrors(
  client: MongoClient,
  groups: readonly MirrorGroup[],
  opts: { session?: ClientSession | undefined; limits?: ChunkLimits } = {},
): Promise<MirrorCounts> {
  const out: MirrorCounts = { upserted: 0, replaced: 0, deleted: 0, skippedOlder: 0, rejected: [] };
  const limits = opts.limits ?? DEFAULT_CHUNK;
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
      const { counts, failures } = await runBulk(() => coll.bulkWrite(run.map((w) => w.write), { ordered: false, session: opts.session }));
      out.upserted += counts.upserted;
      out.replaced += counts.matched;
      out.deleted += counts.deleted;
      for (const f of failures) {
        const item = run[f.index];
        if (item === undefined) throw new Error(`server reported a write error for operation ${f.index} of ${run.length}`);
        // The guard filtered the stored document out, so the upsert collided with it: it is newer.
        if (f.code === DUPLICATE_KEY && item.op.kind === 'upsert') out.skippedOlder++;
        else out.rejected.push({ change: item.op.change, target, mirror: { kind: item.op.kind, key: item.op.key }, reason: { code: f.code, message: f.message } });
      }
    }
  }
  return out;
}
