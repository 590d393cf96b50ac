import type { ClientSession, Collection, Db } from 'mongodb';
import type { JsonColumnsState, SourcePosition } from '../pipeline/types.js';
import { SdlError } from '../errors.js';
import { isDuplicateKey } from './errors.js';
import { COLLECTIONS } from './layout.js';
import { positionOrder } from './position.js';

/** The checkpoint of one pipeline: where to resume the binlog. */
export interface CheckpointDoc {
  _id: string;
  file: string;
  pos: number;
  gtid: string | null;
  serverId: number | null;
  /** See SourcePosition.epoch / source. */
  epoch?: number;
  source?: string | null;
  /** Sortable position; the guard that keeps the checkpoint from moving back. */
  order: string;
  batch: string | null;
  /** Source commit time of the last transaction covered, ms since epoch (for lag). */
  sourceTs: number | null;
  time: Date;
  /** MariaDB JSON columns at this position (absent in checkpoints written before sdl saved them). */
  json?: JsonColumnsState;
  /**
   * The seq of the initial snapshot's newest view, written with the checkpoint that ends it and
   * kept by later writes: a RENAME the stream applies up to it may have moved a table the snapshot
   * read only in part under its old name (committer-io). Absent: none, or an older sdl's.
   */
  snapshotUntil?: string;
}

export interface CheckpointExtra {
  serverId?: number;
  /** Overrides the order derived from file/pos (e.g. after a source failover renamed the files). */
  order?: string;
  batch?: string;
  sourceTs?: number;
  session?: ClientSession | undefined;
  /** The writer's lease term: a checkpoint stored by a newer term refuses this write. */
  term?: number;
  /** The initial snapshot's newest view, kept from then on (see CheckpointDoc). */
  snapshotUntil?: string;
}

export interface CheckpointWrite {
  written: boolean;
  /** When refused: the newer checkpoint that is stored. */
  stored?: CheckpointDoc;
}

export function offsetsCollection(db: Db): Collection<CheckpointDoc> {
  return db.collection<CheckpointDoc>(COLLECTIONS.offsets);
}

export async function readCheckpoint(db: Db, pipeline: string, session?: ClientSession): Promise<(CheckpointDoc & { position: SourcePosition }) | null> {
  const doc = await offsetsCollection(db).findOne({ _id: pipeline }, { session });
  if (doc === null) return null;
  const position: SourcePosition = { file: doc.file, pos: doc.pos };
  if (doc.gtid !== null) position.gtid = doc.gtid;
  if (typeof doc.epoch === 'number' && doc.epoch > 0) position.epoch = doc.epoch;
  if (typeof doc.source === 'string') position.source = doc.source;
  if (isJsonState(doc.json)) position.json = doc.json;
  return { ...doc, position };
}

/**
 * Saves the checkpoint, only forward: the update matches only a stored checkpoint at or
 * before this one, so against a newer one the upsert collides on `_id` and is refused.
 * Writing the same position again (a replayed batch) succeeds.
 */
export async function writeCheckpoint(db: Db, pipeline: string, pos: SourcePosition, extra: CheckpointExtra = {}): Promise<CheckpointWrite> {
  const order = extra.order ?? positionOrder(pos);
  const set: Omit<CheckpointDoc, '_id'> = {
    file: pos.file,
    pos: pos.pos,
    gtid: pos.gtid ?? null,
    epoch: pos.epoch ?? 0,
    source: pos.source ?? null,
    serverId: extra.serverId ?? null,
    order,
    batch: extra.batch ?? null,
    sourceTs: extra.sourceTs ?? null,
    time: new Date(),
  };
  if (extra.term !== undefined) (set as Omit<CheckpointDoc, '_id'> & { term: number }).term = extra.term;
  if (extra.snapshotUntil !== undefined) set.snapshotUntil = extra.snapshotUntil;
  // Left as stored unless this position changed it.
  if (pos.json !== undefined) set.json = pos.json;
  const coll = offsetsCollection(db);
  const fence = extra.term === undefined ? {} : { $or: [{ term: { $exists: false } }, { term: { $lte: extra.term } }] };
  if (extra.session?.inTransaction() === true) {
    // Inside a transaction a duplicate-key error would abort it: read first, then write (isolated).
    const stored = await coll.findOne({ _id: pipeline }, { session: extra.session });
    if (stored !== null && stored.order > order) return { written: false, stored };
  }
  try {
    await coll.updateOne({ _id: pipeline, order: { $lte: order }, ...fence }, { $set: set }, { upsert: true, session: extra.session });
    return { written: true };
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const stored = await coll.findOne({ _id: pipeline }, { session: extra.session });
    const storedTerm = (stored as { term?: unknown } | null)?.term;
    if (extra.term !== undefined && typeof storedTerm === 'number' && storedTerm > extra.term) {
      throw new SdlError('FENCED', `another sdl instance (lease term ${storedTerm}) now writes pipeline ${pipeline}; this one (term ${extra.term}) stops`, 'permanent');
    }
    return stored === null ? { written: false } : { written: false, stored };
  }
}

function isJsonState(v: unknown): v is JsonColumnsState {
  const s = v as Partial<JsonColumnsState> | null | undefined;
  return typeof s?.complete === 'boolean' && Array.isArray(s.tables) && Array.isArray(s.unknown);
}
