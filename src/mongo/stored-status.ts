import type { Db } from 'mongodb';
import { COLLECTIONS } from './layout.js';
import { readCheckpoint, type CheckpointDoc } from './offsets.js';
import { readSnapshotProgress, type SnapshotProgressDoc } from './snapshot-progress.js';
import { unfinishedTableCopies, type TableCopyStatus } from './table-snapshots.js';

/** What MongoDB knows about a pipeline, whether or not an sdl instance runs it. */
export interface StoredStatus {
  checkpoint: CheckpointDoc | null;
  /** An initial snapshot in progress (or interrupted): tables done, the current one and its last key. */
  snapshot: SnapshotProgressDoc | null;
  /** Online copies of single tables not finished yet (`sdl snapshot --tables`, value-changing DDL). */
  tableCopies: TableCopyStatus[];
  /** Staged batches still `pending` (written, not yet applied). */
  pendingBatches: number;
  /** Staged slices of a source transaction still open (its COMMIT not read yet; see Staging). */
  openSlices: number;
  /** Dead letters not yet replayed (every pipeline of the sdl database). */
  deadLetters: number;
  lease: { owner: string; term: number; expiresAt: Date } | null;
}

/**
 * Reads the checkpoint, snapshot progress, staging backlog, dead letters and lease holder.
 * `maxTimeMS` bounds each query so a running instance answering `/status` while MongoDB is
 * away answers anyway (without this part).
 */
export async function readStoredStatus(db: Db, pipeline: string, maxTimeMS?: number): Promise<StoredStatus> {
  const opts = maxTimeMS === undefined ? {} : { maxTimeMS };
  const [checkpoint, snapshot, tableCopies, pendingBatches, openSlices, deadLetters, lease] = await Promise.all([
    readCheckpoint(db, pipeline),
    readSnapshotProgress(db, pipeline),
    unfinishedTableCopies(db, pipeline, maxTimeMS),
    // Staging documents written before pipelines were scoped carry none (see Staging.listPending).
    db.collection(COLLECTIONS.staging).countDocuments({ status: 'pending', part: 0, $or: [{ pipeline }, { pipeline: { $exists: false } }] }, opts),
    db.collection(COLLECTIONS.staging).countDocuments({ status: 'open', part: 0, pipeline }, opts),
    db.collection(COLLECTIONS.deadLetters).countDocuments({ replayed: false }, opts),
    db.collection<{ _id: string; owner: string; term: number; expiresAt: Date }>(COLLECTIONS.leases).findOne({ _id: pipeline }, opts),
  ]);
  return { checkpoint, snapshot, tableCopies, pendingBatches, openSlices, deadLetters, lease: lease === null ? null : { owner: lease.owner, term: lease.term, expiresAt: lease.expiresAt } };
}
