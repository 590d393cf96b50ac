import type { ClientSession, Db, MongoClient } from 'mongodb';
import { faultPoint } from '../faults.js';
import type { Batch } from '../pipeline/types.js';
import { applyBatchDdl, applyRows, emptyCounts, NeedsIdempotentPath, type ApplyCounts, type ApplyTarget } from './apply.js';
import type { Capabilities } from './capabilities.js';
import { writeDeadLetters } from './dead-letters.js';
import type { DatabaseMap } from './layout.js';
import { writeCheckpoint, type CheckpointWrite } from './offsets.js';
import { scopeBatch } from './scope.js';
import { Staging } from './staging.js';
import type { MirrorStrategy } from './mirrors.js';
import type { ChunkLimits } from './write-shape.js';

export { classifyMongoError } from './errors.js';

export interface CommitContext {
  client: MongoClient;
  /** The sdl database. */
  db: Db;
  caps: Pick<Capabilities, 'transactions'>;
  pipeline: string;
  databaseMap?: DatabaseMap;
  /** Reused across batches (keeps its write-concern fallback); made from `db` when absent. */
  staging?: Staging;
  /** False skips staging (to measure what it costs); recovery then has nothing to re-apply. */
  stagingEnabled?: boolean;
  serverId?: number;
  limits?: ChunkLimits;
  mirrorStrategy?: MirrorStrategy;
  /** Lease term fencing checkpoint writes (single writer). */
  term?: number;
  /**
   * Called before every write command (staging, DDL, events, mirrors, dead letters); throws
   * while this instance's lease is not fresh enough for the write to finish before another
   * instance could take over, so a writer cut off from MongoDB past its lease sends nothing
   * when the partition heals (it learns then that it lost the lease, and stops).
   */
  fence?: () => Promise<void>;
  /**
   * Runs before a batch's DDL is applied: the online copies a DDL needs are requested here, so a
   * batch re-applied from staging after a crash requests them too.
   */
  beforeDdl?: (batch: Batch) => Promise<void>;
  /** Told of each staged slice of a streamed group once it is applied (for metrics). */
  sliceApplied?: (batch: Batch) => void;
}

export interface CommitResult extends ApplyCounts {
  batchId: string;
  staged: { parts: number; bytes: number } | null;
  /** Null when the batch has no end (a non-final chunk of a large transaction). */
  checkpoint: CheckpointWrite | null;
  /** True when apply and checkpoint ran in one transaction. */
  transaction: boolean;
  ms: { stage: number; apply: number; checkpoint: number; total: number };
}


function stagingOf(ctx: CommitContext): Staging {
  ctx.staging ??= new Staging(ctx.db, ctx.pipeline);
  return ctx.staging;
}

/** What the write step did; the checkpoint step finishes the batch from it. */
export interface WriteOutcome {
  counts: ApplyCounts;
  staged: CommitResult['staged'];
  /** Rows and checkpoint were committed together in one transaction. */
  transaction: boolean;
  checkpoint: CheckpointWrite | null;
  ms: { stage: number; apply: number };
}

/**
 * Steps 3–4 of the commit protocol (DESIGN.md): stage as pending, then apply DDL, event log
 * and mirrors; where the server has transactions, rows and checkpoint commit together.
 * Only duplicate keys and position-guard collisions are absorbed; every other error
 * propagates for the caller's retry loop (`classifyMongoError`), and a retry of the same
 * batch is exact because each step is idempotent.
 */
export async function writeBatch(ctx: CommitContext, unscoped: Batch, stage = ctx.stagingEnabled !== false): Promise<WriteOutcome> {
  const batch = scopeBatch(unscoped, ctx.pipeline);
  const t0 = performance.now();
  if (batch.slice?.open === true) {
    // Staged even with staging off: it is where an open transaction's rows wait for its commit.
    await ctx.fence?.();
    const staged = await stagingOf(ctx).stageOpen(batch);
    faultPoint('after-stage-open');
    return { counts: emptyCounts(), staged, transaction: false, checkpoint: null, ms: { stage: performance.now() - t0, apply: 0 } };
  }
  const counts = emptyCounts();
  if (batch.slice !== undefined) await applyGroup(ctx, batch.slice.group, counts);
  const t1 = performance.now();
  await ctx.fence?.();
  const staged = stage ? await stagingOf(ctx).stageBatch(batch) : null;
  const t2 = performance.now();
  faultPoint('after-stage');
  const applied = await applyBatch(ctx, batch, counts);
  return { ...applied, staged, ms: { stage: t2 - t1, apply: t1 - t0 + performance.now() - t2 } };
}

/** DDL, event log and mirrors of one batch; where the server has transactions, rows and checkpoint commit together. */
async function applyBatch(ctx: CommitContext, batch: Batch, counts: ApplyCounts): Promise<Pick<WriteOutcome, 'counts' | 'transaction' | 'checkpoint'>> {
  const target: ApplyTarget = { client: ctx.client, db: ctx.db, databaseMap: ctx.databaseMap, limits: ctx.limits, mirrorStrategy: ctx.mirrorStrategy, fence: ctx.fence, beforeDdl: ctx.beforeDdl };
  // Drop and rename cannot run in a MongoDB transaction; they are idempotent on their own.
  await applyBatchDdl(target, batch, counts);
  if (ctx.caps.transactions) {
    const inTxn = await inTransaction(ctx, target, batch, counts);
    if (inTxn !== undefined) return { counts: addCounts(inTxn.counts, counts), transaction: true, checkpoint: inTxn.checkpoint };
  }
  const rejected = await applyRows(target, batch, counts);
  if (rejected.length > 0) await ctx.fence?.();
  counts.deadLetters += await writeDeadLetters(ctx.db, rejected);
  return { counts, transaction: false, checkpoint: null };
}

/**
 * A streamed group committed: its open slices become pending and are applied from staging in
 * order, one at a time (bounded memory), each marked applied once written. The checkpoint does
 * not move here: it moves with the closing batch, after it. A retry, or recovery after a crash,
 * goes on with the slices still pending; a slice applied twice is absorbed as any replay is.
 */
async function applyGroup(ctx: CommitContext, group: string, counts: ApplyCounts): Promise<void> {
  const staging = stagingOf(ctx);
  await ctx.fence?.();
  await staging.commitGroup(group);
  faultPoint('after-group-commit');
  for await (const slice of staging.pending(group)) {
    // A slice has no end: nothing to checkpoint, only its staged copy to release.
    addCounts(counts, (await applyBatch(ctx, slice, emptyCounts())).counts);
    await ctx.fence?.();
    await staging.markApplied(slice.id);
    ctx.sliceApplied?.(slice);
    faultPoint('after-slice-apply');
  }
}

/** Adds the row counts of `more` into `into` (returned); DDL counts are the batch's own. */
function addCounts(into: ApplyCounts, more: ApplyCounts): ApplyCounts {
  for (const k of ['eventsInserted', 'duplicatesIgnored', 'mirrorsUpserted', 'mirrorsReplaced', 'mirrorsDeleted', 'skippedOlder', 'deadLetters'] as const) into[k] += more[k];
  return into;
}

/** Step 5: the checkpoint (unless the transaction already wrote it), then the staged copy is released. */
export async function finishBatch(ctx: CommitContext, unscoped: Batch, written: Pick<WriteOutcome, 'transaction' | 'checkpoint' | 'staged'>): Promise<CheckpointWrite | null> {
  // An open slice has no end and stays staged `open` until its group commits (see applyGroup).
  if (unscoped.slice?.open === true) return null;
  const batch = scopeBatch(unscoped, ctx.pipeline);
  let checkpoint = written.checkpoint;
  if (!written.transaction) {
    faultPoint('after-apply');
    checkpoint = await checkpointOf(ctx, batch);
  }
  if (written.staged !== null) {
    await ctx.fence?.();
    await stagingOf(ctx).markApplied(batch.id);
  }
  return checkpoint;
}

/** The whole protocol for one batch: writeBatch then finishBatch. */
export async function commitBatch(ctx: CommitContext, batch: Batch): Promise<CommitResult> {
  const t0 = performance.now();
  const written = await writeBatch(ctx, batch);
  const t1 = performance.now();
  const checkpoint = await finishBatch(ctx, batch, written);
  const t2 = performance.now();
  return { ...written.counts, batchId: scopeBatch(batch, ctx.pipeline).id, staged: written.staged, checkpoint, transaction: written.transaction, ms: { stage: written.ms.stage, apply: written.ms.apply, checkpoint: t2 - t1, total: t2 - t0 } };
}

/** Startup: re-applies every pending staged batch in staging order, then marks it applied. */
export async function recoverPending(ctx: CommitContext): Promise<CommitResult[]> {
  const results: CommitResult[] = [];
  await stagingOf(ctx).deleteOpen();
  for await (const batch of stagingOf(ctx).pending()) {
    const t0 = performance.now();
    const written = await writeBatch(ctx, batch, false);
    const checkpoint = await finishBatch(ctx, batch, { ...written, staged: { parts: 0, bytes: 0 } });
    const total = performance.now() - t0;
    results.push({ ...written.counts, batchId: batch.id, staged: null, checkpoint, transaction: written.transaction, ms: { stage: 0, apply: written.ms.apply, checkpoint: 0, total } });
  }
  return results;
}

/**
 * Rows and checkpoint in one transaction. Any per-document failure (a duplicate on replay, an
 * older image, a rejected row) aborts a MongoDB transaction, so those batches leave it and
 * take the idempotent path instead: undefined means "not done here".
 */
async function inTransaction(ctx: CommitContext, target: ApplyTarget, batch: Batch, ddlCounts: ApplyCounts): Promise<{ counts: ApplyCounts; checkpoint: CheckpointWrite | null } | undefined> {
  const session = ctx.client.startSession();
  try {
    return await session.withTransaction(async () => {
      const counts: ApplyCounts = { ...emptyCounts(), ddl: ddlCounts.ddl };
      // Throws NeedsIdempotentPath at the first duplicate, older image or rejection (see there).
      await applyRows(target, batch, counts, session);
      faultPoint('after-apply');
      const checkpoint = await checkpointOf(ctx, batch, session);
      return { counts, checkpoint };
    });
  } catch (err) {
    if (err instanceof NeedsIdempotentPath) return undefined;
    throw err;
  } finally {
    await session.endSession();
  }
}

async function checkpointOf(ctx: CommitContext, batch: Batch, session?: ClientSession): Promise<CheckpointWrite | null> {
  if (batch.end === undefined) return null;
  return writeCheckpoint(ctx.db, ctx.pipeline, batch.end, {
    batch: batch.id,
    sourceTs: batch.lastTs,
    session,
    ...(ctx.serverId !== undefined ? { serverId: ctx.serverId } : {}),
    ...(ctx.term !== undefined ? { term: ctx.term } : {}),
  });
}
