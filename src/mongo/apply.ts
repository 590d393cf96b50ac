import type { ClientSession, Db, MongoClient } from 'mongodb';
import type { Batch } from '../pipeline/types.js';
import { writeDeadLetters } from './dead-letters.js';
import { applyDdl, type DdlCounts } from './ddl.js';
import { insertEvents } from './events.js';
import { COLLECTIONS, type DatabaseMap } from './layout.js';
import { applyMirrors, coalesce, type MirrorStrategy } from './mirrors.js';
import type { ChunkLimits, Rejection } from './write-shape.js';

export { applyDdl } from './ddl.js';
export { insertEvents, eventDoc } from './events.js';
export { applyMirrors, coalesce, mirrorDoc } from './mirrors.js';

export interface ApplyCounts {
  eventsInserted: number;
  duplicatesIgnored: number;
  mirrorsUpserted: number;
  mirrorsReplaced: number;
  mirrorsDeleted: number;
  skippedOlder: number;
  deadLetters: number;
  ddl: DdlCounts;
}

export interface ApplyTarget {
  client: MongoClient;
  /** The sdl database (event log, dead letters, schema history). */
  db: Db;
  databaseMap?: DatabaseMap | undefined;
  limits?: ChunkLimits | undefined;
  mirrorStrategy?: MirrorStrategy | undefined;
  /** Called before every write command; throws when this instance may no longer write (lease). */
  fence?: (() => Promise<void>) | undefined;
  /** Runs before a batch's DDL is applied, on first attempts and on recovery alike (see CommitContext.beforeDdl). */
  beforeDdl?: ((batch: Batch) => Promise<void>) | undefined;
}

export function emptyCounts(): ApplyCounts {
  return {
    eventsInserted: 0,
    duplicatesIgnored: 0,
    mirrorsUpserted: 0,
    mirrorsReplaced: 0,
    mirrorsDeleted: 0,
    skippedOlder: 0,
    deadLetters: 0,
    ddl: { recorded: 0, truncated: 0, dropped: 0, renamed: 0, altered: 0 },
  };
}

/** DDL first: it closed the batch before it, so the batch's rows come after it in the source. */
export async function applyBatchDdl(t: ApplyTarget, batch: Batch, counts: ApplyCounts): Promise<void> {
  if (batch.ddl.length === 0) return;
  // The hook writes too (copy requests, and deletes of a copy's documents a lagging DDL outdated).
  await t.fence?.();
  await t.beforeDdl?.(batch);
  await t.fence?.();
  counts.ddl = await applyDdl(t.client, t.db, batch, t.databaseMap);
}

/**
 * Inside a MongoDB transaction any per-document failure (a duplicate on replay, an older image,
 * a rejected row) has already aborted the transaction on the server: every later write in it
 * fails with NoSuchTransaction, which carries TransientTransactionError, and withTransaction
 * would retry the same batch forever. So in a transaction the first such failure leaves at once.
 */
export class NeedsIdempotentPath extends Error {
  constructor(reason: string) {
    super(`batch needs the idempotent path: ${reason}`);
    this.name = 'NeedsIdempotentPath';
  }
}

/** Event log and mirrors; returns the rejections so the caller decides where they go. */
export async function applyRows(t: ApplyTarget, batch: Batch, counts: ApplyCounts, session?: ClientSession): Promise<Rejection[]> {
  const opts = { session, fence: t.fence, ...(t.limits !== undefined ? { limits: t.limits } : {}), ...(t.mirrorStrategy !== undefined ? { strategy: t.mirrorStrategy } : {}) };
  const events = await insertEvents(t.db.collection(COLLECTIONS.rowChanges), batch.changes, opts);
  if (session !== undefined && (events.duplicates > 0 || events.rejected.length > 0)) throw new NeedsIdempotentPath(`${events.duplicates} events already logged, ${events.rejected.length} rejected`);
  const mirrors = await applyMirrors(t.client, coalesce(batch.changes, t.databaseMap), opts);
  counts.eventsInserted += events.inserted;
  counts.duplicatesIgnored += events.duplicates;
  counts.mirrorsUpserted += mirrors.upserted;
  counts.mirrorsReplaced += mirrors.replaced;
  counts.mirrorsDeleted += mirrors.deleted;
  counts.skippedOlder += mirrors.skippedOlder;
  if (session !== undefined && (mirrors.skippedOlder > 0 || mirrors.rejected.length > 0)) throw new NeedsIdempotentPath(`${mirrors.skippedOlder} mirror images older than stored, ${mirrors.rejected.length} rejected`);
  return [...events.rejected, ...mirrors.rejected];
}

/** The whole apply step without a transaction: every write is idempotent. */
export async function applyBatch(t: ApplyTarget, batch: Batch): Promise<ApplyCounts> {
  const counts = emptyCounts();
  await applyBatchDdl(t, batch, counts);
  const rejected = await applyRows(t, batch, counts);
  counts.deadLetters = await writeDeadLetters(t.db, rejected);
  return counts;
}
