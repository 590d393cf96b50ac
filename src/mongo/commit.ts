import type { ClientSession, Db, MongoClient } from 'mongodb';
import { faultPoint } from '../faults.js';
import type { Batch } from '../pipeline/types.js';
import { applyBatchDdl, applyRows, emptyCounts, type ApplyCounts, type ApplyTarget } from './apply.js';
import type { Capabilities } from './capabilities.js';
import { writeDeadLetters } from './dead-letters.js';
import type { DatabaseMap } from './layout.js';
import { writeCheckpoint, type CheckpointWrite } from './offsets.js';
import { Staging } from './staging.js';
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

/** Thrown inside a transaction to leave it: a replay or a rejected row needs the idempotent path. */
class NeedsIdempotentPath extends Error {}

function stagingOf(ctx: CommitContext): Staging {
  ctx.staging ??= new Staging(ctx.db);
  return ctx.staging;
}

/**
 * The commit protocol (DESIGN.md steps 3–5): stage as pending → apply DDL, event log and
 * mirrors → checkpoint → mark staged applied. Only duplicate keys and position-guard
 * collisions are absorbed; every other error propagates for the caller's retry loop
 * (`classifyMongoError`), and a retry of the same batch is exact because each step is idempotent.
 */
export async function commitBatch(ctx: CommitContext, batch: Batch): Promise<CommitResult> {
  const t0 = performance.now();
  let staged: CommitResult['staged'] = null;
  if (ctx.stagingEnabled !== false) staged = await stagingOf(ctx).stageBatch(batch);
  const t1 = performance.now();
  faultPoint('after-stage');
  const result = await applyAndCheckpoint(ctx, batch);
  if (staged !== null) await stagingOf(ctx).markApplied(batch.id);
  const t3 = performance.now();
  return { ...result, staged, ms: { ...result.ms, stage: t1 - t0, total: t3 - t0 } };
}

/** Startup: re-applies every pending staged batch in staging order, then marks it applied. */
export async function recoverPending(ctx: CommitContext): Promise<CommitResult[]> {
  const staging = stagingOf(ctx);
  const results: CommitResult[] = [];
  for (const batch of await staging.listPending()) {
    const t0 = performance.now();
    const result = await applyAndCheckpoint(ctx, batch);
    await staging.markApplied(batch.id);
    results.push({ ...result, staged: null, ms: { ...result.ms, total: performance.now() - t0 } });
  }
  return results;
}

async function applyAndCheckpoint(ctx: CommitContext, batch: Batch): Promise<Omit<CommitResult, 'staged'>> {
  const target: ApplyTarget = { client: ctx.client, db: ctx.db, databaseMap: ctx.databaseMap, limits: ctx.limits };
  const counts = emptyCounts();
  const t0 = performance.now();
  // Drop and rename cannot run in a MongoDB transaction; they are idempotent on their own.
  await applyBatchDdl(target, batch, counts);
  if (ctx.caps.transactions) {
    const inTxn = await inTransaction(ctx, target, batch, counts);
    if (inTxn !== undefined) return inTxn;
  }
  const rejected = await applyRows(target, batch, counts);
  counts.deadLetters = await writeDeadLetters(ctx.db, rejected);
  const t1 = performance.now();
  faultPoint('after-apply');
  const checkpoint = await checkpointOf(ctx, batch);
  const t2 = performance.now();
  return { ...counts, batchId: batch.id, checkpoint, transaction: false, ms: { stage: 0, apply: t1 - t0, checkpoint: t2 - t1, total: 0 } };
}

/**
 * Rows and checkpoint in one transaction. Any per-document failure (a duplicate on replay, an
 * older image, a rejected row) aborts a MongoDB transaction, so those batches leave it and
 * take the idempotent path instead: undefined means "not done here".
 */
async function inTransaction(ctx: CommitContext, target: ApplyTarget, batch: Batch, ddlCounts: ApplyCounts): Promise<Omit<CommitResult, 'staged'> | undefined> {
  const session = ctx.client.startSession();
  try {
    const t0 = performance.now();
    let applyMs = 0;
    const out = await session.withTransaction(async () => {
      const counts: ApplyCounts = { ...emptyCounts(), ddl: ddlCounts.ddl };
      const rejected = await applyRows(target, batch, counts, session);
      if (rejected.length > 0 || counts.duplicatesIgnored > 0 || counts.skippedOlder > 0) throw new NeedsIdempotentPath();
      applyMs = performance.now() - t0;
      faultPoint('after-apply');
      const checkpoint = await checkpointOf(ctx, batch, session);
      return { counts, checkpoint };
    });
    const total = performance.now() - t0;
    return { ...out.counts, batchId: batch.id, checkpoint: out.checkpoint, transaction: true, ms: { stage: 0, apply: applyMs, checkpoint: total - applyMs, total: 0 } };
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
  });
}
