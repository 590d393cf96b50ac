import { Binary, type Collection, type Db } from 'mongodb';
import type { RawValue, SourcePosition } from '../pipeline/types.js';
import { COLLECTIONS } from './layout.js';

/**
 * The initial snapshot's own checkpoint, one document per pipeline in `sdl.snapshots`. It is
 * written after each chunk is applied, so a restart continues after the last committed chunk;
 * the chunk after it may have been applied too, which is harmless (snapshot writes are
 * idempotent). It is deleted once the binlog checkpoint exists.
 */
export interface SnapshotProgressDoc {
  _id: string;
  /** The first view's position: streaming starts here once every table is copied. */
  start: SourcePosition;
  startedAt: Date;
  /** `db.table` of every table copied completely. */
  done: string[];
  /** The table being copied, with the key of its last committed row (null: none yet). */
  current: { db: string; table: string; after: RawValue[] | null; rows: number } | null;
  /** Rows copied so far, all tables. */
  rows: number;
  /** How many times a view was opened (1 + restarts). */
  views: number;
  updatedAt: Date;
}

function snapshots(db: Db): Collection<SnapshotProgressDoc> {
  return db.collection<SnapshotProgressDoc>(COLLECTIONS.snapshots);
}

export async function readSnapshotProgress(db: Db, pipeline: string): Promise<SnapshotProgressDoc | null> {
  const doc = await snapshots(db).findOne({ _id: pipeline });
  if (doc === null) return null;
  // Binary key parts come back as the driver's Binary; the chunk query wants the bytes.
  const after = doc.current?.after?.map((v) => (v instanceof Binary ? Buffer.from(v.buffer.subarray(0, v.position)) : v)) ?? null;
  return { ...doc, current: doc.current === null ? null : { ...doc.current, after } };
}

export async function saveSnapshotProgress(db: Db, doc: SnapshotProgressDoc): Promise<void> {
  await snapshots(db).replaceOne({ _id: doc._id }, { ...doc, updatedAt: new Date() }, { upsert: true });
}

export async function dropSnapshotProgress(db: Db, pipeline: string): Promise<void> {
  await snapshots(db).deleteOne({ _id: pipeline });
}
