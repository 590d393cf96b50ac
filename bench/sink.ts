import { Binary, type AnyBulkWriteOperation, type Db, type Document, type MongoClient, type WriteConcernSettings } from 'mongodb';
import { encodeBatch } from '../src/mongo/batch-codec.js';
import { eventDoc } from '../src/mongo/events.js';
import { APPLIED_STAGING_TTL_SECONDS, COLLECTIONS, ensureIndexes, type DatabaseMap } from '../src/mongo/layout.js';
import { applyMirrors, coalesce, mirrorWrite, type MirrorGroup, type MirrorStrategy } from '../src/mongo/mirrors.js';
import { positionOrder } from '../src/mongo/position.js';
import { bsonSize, chunk, type ChunkLimits } from '../src/mongo/write-shape.js';
import type { Batch } from '../src/pipeline/types.js';

/** One batch's writes, built before the clock starts. */
interface Prepared {
  id: string;
  rows: number;
  staging: { id: string; doc: Document }[];
  events: Document[][];
  mirrors: { db: string; collection: string; ops: AnyBulkWriteOperation<Document>[] }[];
  groups: MirrorGroup[];
  checkpoint: Document | undefined;
}

function prepare(batch: Batch, databaseMap: DatabaseMap, limits: ChunkLimits): Prepared {
  const parts = encodeBatch(batch);
  const stagedAt = new Date();
  const staging = parts.map((p, i) => {
    const id = `${batch.id}#${i}`;
    return { id, doc: { _id: id, batch: batch.id, part: i, parts: parts.length, status: 'pending', order: 0, stagedAt, payload: new Binary(p) } };
  }).reverse();
  const events = chunk(batch.changes.map((c) => { const doc = eventDoc(c); return { doc, size: bsonSize(doc) }; }), (s) => s.size, limits).map((run) => run.map((s) => s.doc));
  const mirrorLimits = { ops: Math.min(limits.ops, limits.updateOps ?? limits.ops), bytes: limits.bytes };
  const groups = coalesce(batch.changes, databaseMap);
  const mirrors = groups.flatMap((g) =>
    chunk(g.ops.map(mirrorWrite), (w) => w.size, mirrorLimits).map((run) => ({ db: g.ns.db, collection: g.ns.collection, ops: run.map((w) => w.write) })),
  );
  const checkpoint = batch.end === undefined ? undefined : { file: batch.end.file, pos: batch.end.pos, gtid: batch.end.gtid ?? null, serverId: 1, order: positionOrder(batch.end), batch: batch.id, sourceTs: batch.lastTs };
  return { id: batch.id, rows: batch.rows, staging, events, mirrors, groups, checkpoint };
}

/** The write concern sdl's staging ends up with on this server (it falls back the same way). */
async function stagingConcern(db: Db): Promise<WriteConcernSettings> {
  for (const wc of [{ w: 'majority' as const, j: true }, { w: 1, j: true }, { w: 1 }]) {
    try {
      await db.collection('_wc_probe').insertOne({ x: 1 }, { writeConcern: wc });
      await db.collection('_wc_probe').drop();
      return wc;
    } catch {
      // refused: try the next, as Staging does
    }
  }
  return { w: 1 };
}

export interface SinkResult {
  rows: number;
  batches: number;
  seconds: number;
  /** Where the time went, per write step. */
  secondsBy: Record<'stage' | 'events' | 'mirrors' | 'checkpoint' | 'mark', number>;
}

/**
 * The sink ceiling: exactly the writes sdl makes per batch (staging part(s) as pending, stale
 * parts cleared, event log unordered inserts, mirror bulk upserts/deletes, checkpoint, mark
 * applied), in the same order and command sizes, one batch at a time, every document built beforehand.
 */
export async function sinkCeiling(client: MongoClient, sdlDb: string, batches: Batch[], databaseMap: DatabaseMap, limits: ChunkLimits, strategy: MirrorStrategy, pipeline = 'sink', onBatch?: (rows: number, seconds: number) => void): Promise<SinkResult> {
  const db = client.db(sdlDb);
  await ensureIndexes(db);
  const wc = await stagingConcern(db);
  const prepared = batches.map((b) => prepare(b, databaseMap, limits));
  const staging = db.collection<{ _id: string } & Document>(COLLECTIONS.staging);
  const events = db.collection<Document>(COLLECTIONS.rowChanges);
  const offsets = db.collection<Document>(COLLECTIONS.offsets);
  let rows = 0;
  let marks = 0;
  const t0 = performance.now();
  const ms = { stage: 0, events: 0, mirrors: 0, checkpoint: 0, mark: 0 };
  let at = t0;
  const lap = (step: keyof typeof ms): void => {
    const now = performance.now();
    ms[step] += now - at;
    at = now;
  };
  for (const p of prepared) {
    for (const { id, doc } of p.staging) await staging.replaceOne({ _id: id }, doc, { upsert: true, writeConcern: wc });
    await staging.deleteMany({ batch: p.id, part: { $gte: p.staging.length } });
    lap('stage');
    for (const run of p.events) await events.insertMany(run, { ordered: false });
    lap('events');
    // replace-set reads stored positions, deletes by $in and inserts: the same calls sdl makes.
    if (strategy === 'replace-set') await applyMirrors(client, p.groups, { strategy, limits });
    else for (const m of p.mirrors) await client.db(m.db).collection<Document>(m.collection).bulkWrite(m.ops, { ordered: false });
    lap('mirrors');
    if (p.checkpoint !== undefined) {
      await offsets.updateOne({ _id: pipeline, order: { $lte: p.checkpoint['order'] as string } } as Document, { $set: { ...p.checkpoint, time: new Date() } }, { upsert: true });
    }
    lap('checkpoint');
    await staging.updateMany({ batch: p.id }, { $set: { status: 'applied', appliedAt: new Date() }, $unset: { payload: '' } });
    // Staging purges applied copies itself where the server has no TTL index (FerretDB 1.x).
    if (++marks % 100 === 1) await staging.deleteMany({ status: 'applied', appliedAt: { $lt: new Date(Date.now() - APPLIED_STAGING_TTL_SECONDS * 1000) } });
    lap('mark');
    rows += p.rows;
    onBatch?.(rows, (performance.now() - t0) / 1000);
  }
  const secondsBy = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Math.round(v) / 1000])) as Record<keyof typeof ms, number>;
  return { rows, batches: prepared.length, seconds: (performance.now() - t0) / 1000, secondsBy };
}
