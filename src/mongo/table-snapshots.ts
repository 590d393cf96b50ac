import { Binary, type Collection, type Db } from 'mongodb';
import type { RawValue } from '../pipeline/types.js';
import { COLLECTIONS } from './layout.js';

/**
 * A request to re-snapshot one table while streaming goes on, and its progress, one document
 * per pipeline and table in `sdl.snapshots` (`_id` `<pipeline>/table/<db.table>`; the initial
 * snapshot's document there is `_id` `<pipeline>`). `sdl snapshot --tables` and a DDL that
 * changes stored values without row events write it; the running `sdl run` copies the table
 * and saves the progress after each chunk, so a restart resumes after the last one.
 */
export interface TableSnapshotDoc {
  _id: string;
  pipeline: string;
  db: string;
  table: string;
  /** Why: `requested` (the command) or the DDL that made the mirror stale. */
  reason: string;
  /**
   * `_sdl.pos` of the DDL whose apply asked for this copy (null or absent: the command asked). A
   * replay of that DDL's batch (after a crash, the stream reads it again) finds its own request
   * and leaves the copy alone: its views are past the DDL and the mirror had the DDL applied.
   */
  requestSeq?: string | null;
  /**
   * Set with a request whose DDL found documents an earlier copy wrote from views past it:
   * those at or past this seq are deleted right after the request, and this is cleared then. Still
   * set after a crash: the retried batch deletes them again before anything is written.
   */
  purgeFrom?: string | null;
  /** Bumped by every new request: a copy under way for an older one starts over. */
  generation: number;
  requestedAt: Date;
  /** `_sdl.pos` of the first chunk's view: documents older than it at the end have no row. */
  firstSeq: string | null;
  /**
   * `_sdl.pos` of the latest chunk's view. A DDL the stream applies later than this view's
   * position was already in the table the copy read: what it wrote is stale (see the committer).
   * Absent in a document saved by a version without it.
   */
  lastSeq?: string | null;
  /**
   * The table's last key at the first chunk's view (null: the table was empty then); the copy
   * reads no further. A row with a larger key was written after that view, so its change has a
   * larger seq and reaches the mirror by the stream. Absent before the first chunk (and in a
   * progress document saved by a version without it: that copy reads to the end).
   */
  upTo?: RawValue[] | null;
  /** Key of the last copied row (null: none yet). */
  after: RawValue[] | null;
  rows: number;
  /** Keys left to the stream because it changed them after the chunk's view. */
  skipped: number;
  done: boolean;
  finishedAt: Date | null;
  updatedAt: Date;
  /** When the copy of this request began (kept across restarts), for its average rate. */
  startedAt?: Date;
  /** The table's row count estimate (information_schema) when the copy began, for the ETA. */
  estimatedRows?: number;
}

/** A table copy as `sdl status` shows it: progress, average rate since it began, and the time left. */
export interface TableCopyStatus {
  table: string;
  reason: string;
  rows: number;
  estimatedRows: number | null;
  /** Rows read per second since the copy began; null before its first chunk. */
  rowsPerSecond: number | null;
  /** Seconds left at that rate; null when the rate or the estimate is unknown. */
  etaSeconds: number | null;
  updatedAt: Date;
}

/** The pipeline's unfinished table copies, oldest request first. */
export async function unfinishedTableCopies(db: Db, pipeline: string, maxTimeMS?: number): Promise<TableCopyStatus[]> {
  const docs = await coll(db).find({ pipeline, done: false }, maxTimeMS === undefined ? {} : { maxTimeMS }).sort({ requestedAt: 1 }).toArray();
  return docs.map((d) => {
    const seconds = d.startedAt === undefined ? 0 : (d.updatedAt.getTime() - d.startedAt.getTime()) / 1000;
    const rate = seconds > 0 && d.rows > 0 ? d.rows / seconds : null;
    const estimate = d.estimatedRows ?? null;
    const eta = rate === null || estimate === null ? null : Math.max(0, Math.round((estimate - d.rows) / rate));
    return { table: `${d.db}.${d.table}`, reason: d.reason, rows: d.rows, estimatedRows: estimate, rowsPerSecond: rate === null ? null : Math.round(rate), etaSeconds: eta, updatedAt: d.updatedAt };
  });
}

export function tableSnapshotId(pipeline: string, db: string, table: string): string {
  return `${pipeline}/table/${db}.${table}`;
}

function coll(db: Db): Collection<TableSnapshotDoc> {
  return db.collection<TableSnapshotDoc>(COLLECTIONS.snapshots);
}

/**
 * Asks for a (new) copy of the table: one under way restarts from its first key. A DDL's apply
 * passes its seq (`requestSeq`) and, when it deletes an outdated copy's documents, `purgeFrom`.
 */
export async function requestTableSnapshot(db: Db, pipeline: string, t: { db: string; table: string }, reason: string, by: { seq?: string; purgeFrom?: string } = {}): Promise<void> {
  const now = new Date();
  const requestSeq = by.seq ?? null;
  const purgeFrom = by.purgeFrom ?? null;
  await coll(db).updateOne(
    { _id: tableSnapshotId(pipeline, t.db, t.table) },
    {
      $set: { pipeline, db: t.db, table: t.table, reason, requestedAt: now, requestSeq, purgeFrom, firstSeq: null, lastSeq: null, after: null, rows: 0, skipped: 0, done: false, finishedAt: null, updatedAt: now },
      $unset: { startedAt: '', estimatedRows: '', upTo: '' },
      $inc: { generation: 1 },
    },
    { upsert: true },
  );
}

/** The deletion a request's `purgeFrom` stood for is done. */
export async function purgeDone(db: Db, pipeline: string, t: { db: string; table: string }): Promise<void> {
  await coll(db).updateOne({ _id: tableSnapshotId(pipeline, t.db, t.table) }, { $set: { purgeFrom: null } });
}

/** The oldest pending request of the pipeline, if any. */
export async function nextTableSnapshot(db: Db, pipeline: string): Promise<TableSnapshotDoc | null> {
  const [doc] = await coll(db).find({ pipeline, done: false }).sort({ requestedAt: 1 }).limit(1).toArray();
  return doc === undefined ? null : withBuffers(doc);
}

export async function readTableSnapshot(db: Db, pipeline: string, t: { db: string; table: string }): Promise<TableSnapshotDoc | null> {
  const doc = await coll(db).findOne({ _id: tableSnapshotId(pipeline, t.db, t.table) });
  return doc === null ? null : withBuffers(doc);
}

/**
 * Saves progress only while the request is the one being copied (same generation): a new
 * request that came meanwhile is not overwritten. False when it was.
 */
export async function saveTableSnapshot(db: Db, doc: TableSnapshotDoc): Promise<boolean> {
  // The request's own fields stay the request's: a copy that read them before the purge ended would bring purgeFrom back.
  const { _id, generation, ...rest } = doc;
  delete rest.requestSeq;
  delete rest.purgeFrom;
  const r = await coll(db).updateOne({ _id, generation }, { $set: { ...rest, updatedAt: new Date() } });
  return r.matchedCount === 1;
}

function withBuffers(doc: TableSnapshotDoc): TableSnapshotDoc {
  // Binary key parts come back as the driver's Binary; the chunk query wants the bytes.
  const bytes = (key: RawValue[]): RawValue[] => key.map((v) => (v instanceof Binary ? Buffer.from(v.buffer.subarray(0, v.position)) : v));
  const after = doc.after === null ? null : bytes(doc.after);
  return { ...doc, after, ...(doc.upTo === undefined ? {} : { upTo: doc.upTo === null ? null : bytes(doc.upTo) }) };
}

/** An online table copy not done yet, as a command that would write beside it names it. */
export interface UnfinishedCopy {
  pipeline: string;
  table: string;
  rows: number;
}

/**
 * The unfinished online copies, of any pipeline of this sdl database, of the tables `affects`
 * says yes to. Their copier writes the mirror under the committer's lock only, so another process
 * writing the same documents meanwhile (`sdl verify --repair`, `sdl replay`) is not serialized
 * with it and on FerretDB's replace-set writes can lose the newer image.
 */
export async function unfinishedCopiesOf(db: Db, affects: (t: { db: string; table: string }) => boolean): Promise<UnfinishedCopy[]> {
  const docs = await coll(db).find({ done: false }, { projection: { pipeline: 1, db: 1, table: 1, rows: 1 } }).sort({ requestedAt: 1 }).toArray();
  return docs.filter((d) => affects(d)).map((d) => ({ pipeline: d.pipeline, table: `${d.db}.${d.table}`, rows: d.rows }));
}

/** Why `command` does not write while `copies` are unfinished, and what to do. */
export function copyUnderWayMessage(command: string, copies: readonly UnfinishedCopy[]): string {
  const list = copies.map((c) => `${c.table} (pipeline ${c.pipeline}, ${c.rows} rows read)`).join(', ');
  const tables = [...new Set(copies.map((c) => c.table))].join(',');
  return `${command} refused: the online snapshot of ${list} is not finished, and its writes to the mirror are not serialized with this command's (two writers of one document can lose the newer image). Wait until it is done — \`sdl snapshot --tables ${tables}\` waits for it, \`sdl status\` shows it; it runs inside \`sdl run\` of its pipeline — then run ${command} again`;
}
