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
  /**
   * The table being copied, with the key of its last committed row (null: none yet) and, with a
   * view per chunk, its last key at its first chunk's view, where its copy ends (null: empty then).
   */
  /** `key`: the columns `after` and `upTo` are values of (absent in documents of older versions). */
  current: { db: string; table: string; after: RawValue[] | null; rows: number; upTo?: RawValue[] | null; key?: string[] } | null;
  /** The newest view a chunk was read at (absent: none yet, or a snapshot saved by an older sdl). */
  lastSeq?: string;
  /**
   * With a view per chunk: each table's (`db.table`) last key at the first view, where its copy
   * ends (a table not listed: at its first chunk's view). A list: names hold dots, which FerretDB refuses in keys.
   */
  upTo?: { table: string; key: RawValue[] | null; columns?: string[] }[];
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
  const bytes = (key: RawValue[]): RawValue[] => key.map((v) => (v instanceof Binary ? Buffer.from(v.buffer.subarray(0, v.position)) : v));
  const cur = doc.current;
  const upTo = doc.upTo === undefined ? {} : { upTo: doc.upTo.map((u) => ({ ...u, key: u.key === null ? null : bytes(u.key) })) };
  if (cur === null) return { ...doc, ...upTo };
  return { ...doc, ...upTo, current: { ...cur, after: cur.after === null ? null : bytes(cur.after), ...(cur.upTo === undefined ? {} : { upTo: cur.upTo === null ? null : bytes(cur.upTo) }) } };
}


export async function saveSnapshotProgress(db: Db, doc: SnapshotProgressDoc): Promise<void> {
  await snapshots(db).replaceOne({ _id: doc._id }, { ...doc, updatedAt: new Date() }, { upsert: true });
}

export async function dropSnapshotProgress(db: Db, pipeline: string): Promise<void> {
  await snapshots(db).deleteOne({ _id: pipeline });
}
