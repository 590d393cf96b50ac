import { withoutJson } from '../mongo/position.js';
import type { Db, MongoClient } from 'mongodb';
import { fromPromise } from 'xstate';
import type { Config } from '../config/config.js';
import type { PipelineMetrics } from '../http/metrics.js';
import type { Logger } from '../log.js';
import type { Capabilities } from '../mongo/capabilities.js';
import { finishBatch, recoverPending, writeBatch, type CommitContext, type WriteOutcome } from '../mongo/commit.js';
import type { MirrorStrategy } from '../mongo/mirrors.js';
import { Staging } from '../mongo/staging.js';
import { ddlTables } from '../mongo/ddl-parse.js';
import { MirrorLock } from '../mongo/mirror-lock.js';
import { TouchedKeys } from '../snapshot/touched-keys.js';
import { readTableSnapshot, requestTableSnapshot } from '../mongo/table-snapshots.js';
import { FERRETDB_CHUNK } from '../mongo/write-shape.js';
import type { StagedPayload, StagePlan } from '../decode/wire.js';
import type { Part } from '../pipeline/batching.js';
import type { Batch } from '../pipeline/types.js';
import { PART_BYTES } from '../mongo/payload.js';
import { scopeBatch } from '../mongo/scope.js';
import { mongoStep } from './mongo-step.js';
import { StageAhead } from './stage-ahead.js';

export interface CommitterIODeps {
  /** The writing client and sdl's database; known once `prepare` has decided the write concern. */
  mongo: () => { client: MongoClient; db: Db };
  config: Config;
  serverId: number;
  log: Logger;
  metrics: PipelineMetrics;
  /** Known once `prepare` has probed the server. */
  caps: () => Capabilities | undefined;
  /** The single-writer lease term, once `prepare` holds the lease. */
  term: () => number | undefined;
  /** Throws while this instance may not write (see WriteFence). */
  fence?: () => void;
}

/**
 * The committer's actors over the commit protocol in src/mongo/commit.ts: recover (re-apply
 * staged batches), writeBatch (stage + apply, or apply + checkpoint in one transaction) and
 * checkpoint. Every failure leaves as a classified StepError.
 */
export function committerIO(deps: CommitterIODeps) {
  const { config, log, metrics } = deps;
  let ctx: CommitContext | undefined;
  const outcomes = new Map<string, WriteOutcome>();
  const context = (): CommitContext => {
    const caps = deps.caps();
    if (caps === undefined) throw new Error('committer used before prepare');
    const { client, db } = deps.mongo();
    ctx ??= {
      client,
      db,
      caps,
      pipeline: config.pipeline,
      databaseMap: config.mongo.databaseMap,
      staging: new Staging(db, config.pipeline, { ttl: false }),
      stagingEnabled: config.staging,
      serverId: deps.serverId,
      mirrorStrategy: mirrorStrategyFor(caps),
      ...(deps.term() !== undefined ? { term: deps.term() } : {}),
      ...(deps.fence !== undefined ? { fence: deps.fence } : {}),
      ...(caps.ferretdb !== undefined ? { limits: FERRETDB_CHUNK } : {}),
      sliceApplied: (slice) => {
        metrics.rowsCommitted(slice.rows);
        metrics.tableRowsCommitted(slice.changes);
      },
    };
    return ctx;
  };

  // Staging of batch n+1 overlaps the apply of batch n: the batcher stages ahead, the write step only what is left.
  const stageAhead = new StageAhead(async (batch, payload) => {
    const ctx = context();
    ctx.fence?.();
    if (ctx.staging === undefined) throw new Error('committer context without staging');
    return ctx.staging.stageBatch(scopeBatch(batch, ctx.pipeline), 'pending', payload);
  });

  const lock = new MirrorLock();
  const touched = new TouchedKeys();
  const keyless = new Set<string>();
  const warnKeyless = (batch: Batch): void => {
    for (const c of batch.changes) {
      if (c.key !== null) continue;
      const name = `${c.db}.${c.table}`;
      if (keyless.has(name)) continue;
      keyless.add(name);
      log.warn({ db: c.db, table: c.table }, `${name} has no primary or unique NOT NULL key: its changes go to the event log only, no mirror collection`);
    }
  };

  /**
   * DDL that changes stored rows without row events (`ADD COLUMN … DEFAULT`, a type-changing
   * MODIFY, a charset conversion) leaves untouched mirror documents with their old values: the
   * table is re-snapshotted online. Any other DDL on a table whose online snapshot is under way
   * restarts it, since chunks read before the DDL would bring back what the DDL changed. Runs
   * under the mirror lock before the batch is written, so no chunk is written in between; a
   * retry or replay of the batch asks again, which only restarts the copy.
   */
  const requestResnapshots = async (batch: Batch): Promise<void> => {
    const { db } = deps.mongo();
    for (const ddl of batch.ddl) {
      const a = ddl.action;
      if (a === undefined) continue;
      const stale = a.kind === 'alter' && a.stale.length > 0 ? a : undefined;
      if (stale !== undefined) {
        const name = `${stale.table.db}.${stale.table.table}`;
        log.warn({ db: stale.table.db, table: stale.table.table, changes: stale.stale, position: batch.end === undefined ? undefined : withoutJson(batch.end) },
          `${name}: ${stale.stale.join(', ')} may change stored rows without row events: re-snapshotting ${name} online (progress in the snapshot log lines and /metrics)`);
        await requestTableSnapshot(db, config.pipeline, stale.table, `${stale.stale.join(', ')} at ${batch.end === undefined ? batch.id : `${batch.end.file}:${batch.end.pos}`}`);
        continue;
      }
      for (const t of ddlTables(a)) {
        const pending = await readTableSnapshot(db, config.pipeline, t);
        if (pending === null || pending.done) continue;
        log.warn({ db: t.db, table: t.table, ddl: a.kind }, `${t.db}.${t.table}: DDL during its online snapshot: starting the copy over`);
        await requestTableSnapshot(db, config.pipeline, t, `${pending.reason}; restarted after ${a.kind} DDL`);
      }
    }
  };

  return {
    /** The commit context the committer uses (also the initial snapshot's, so both write alike). */
    context,
    /** For the batcher's decode step: stages a batch it hands on when that keeps staging order (see StageAhead). */
    stageAhead: (batch: Batch, payload?: StagedPayload): Promise<boolean> => (config.staging ? stageAhead.ahead(batch, payload) : Promise.resolve(false)),
    /**
     * For the batcher's decode step: what its decode task needs to encode the batch's staging
     * payload too, for a batch that may be staged ahead (not a streamed transaction's slice; not
     * without staging). Staging here uses PART_BYTES (context() sets no part size).
     */
    stagePlan: (parts: readonly Part[]): StagePlan | undefined =>
      config.staging && parts.length > 0 && parts[0]?.slice === undefined ? { pipeline: config.pipeline, partBytes: PART_BYTES } : undefined,
    /** Every mirror write of the committer runs under it; the online snapshot's chunks too. */
    lock,
    /** Keys the committer's batches touched, for the tables an online snapshot copies. */
    touched,
    actors: {
      recover: fromPromise<unknown, void>(() =>
        mongoStep(async () => {
          stageAhead.reset();
          const results = await lock.exclusive(() => recoverPending(context()));
          if (results.length > 0) log.warn({ batches: results.length, rows: results.reduce((n, r) => n + r.eventsInserted + r.duplicatesIgnored, 0) }, 're-applied staged batches left pending by the previous run');
          return results.length;
        }),
      ),
      writeBatch: fromPromise<unknown, { batch: Batch }>(({ input }) =>
        mongoStep(async () => {
          // A slice of a streamed transaction stages itself (open, or after its group's slices turn pending): never ahead.
          const sliced = input.batch.slice !== undefined;
          const staged = config.staging && !sliced ? await stageAhead.stagedOrStage(input.batch) : null;
          const written = await lock.exclusive(async () => {
            if (input.batch.ddl.length > 0) await requestResnapshots(input.batch);
            // Noted before the write: a write that fails half way may have applied some of it.
            touched.note(input.batch.changes);
            return sliced ? writeBatch(context(), input.batch) : writeBatch(context(), input.batch, false);
          });
          const outcome = sliced ? written : { ...written, staged };
          outcomes.set(input.batch.id, outcome);
          metrics.duplicatesIgnored(outcome.counts.duplicatesIgnored);
          warnKeyless(input.batch);
          if (outcome.counts.deadLetters > 0) {
            metrics.deadLetters(outcome.counts.deadLetters);
            log.error({ batch: input.batch.id, deadLetters: outcome.counts.deadLetters }, 'MongoDB rejected rows: written to dead_letters (replay them once the cause is fixed)');
          }
          return outcome.counts;
        }),
      ),
      checkpoint: fromPromise<unknown, { batch: Batch }>(({ input }) =>
        mongoStep(async () => {
          const { batch } = input;
          const outcome = outcomes.get(batch.id);
          // Without the write outcome (it cannot be lost between the two steps, but be safe) the
          // idempotent path is always correct: write the checkpoint, release the staged copy.
          const written = await finishBatch(context(), batch, outcome ?? { transaction: false, checkpoint: null, staged: config.staging ? { parts: 0, bytes: 0 } : null });
          if (written !== null && !written.written) {
            // Only a replay of a batch older than the stored checkpoint gets here; anything else
            // means positions stopped being monotonic, which nobody should learn about by accident.
            log.warn({ batch: batch.id, end: batch.end === undefined ? undefined : withoutJson(batch.end), stored: written.stored === undefined ? null : { file: written.stored.file, pos: written.stored.pos, gtid: written.stored.gtid, order: written.stored.order } }, 'checkpoint kept: the stored one is further along than this batch');
          }
          outcomes.delete(batch.id);
          stageAhead.committed(batch.id);
          if (batch.slice?.open === true) {
            // Staged only: its rows count as committed when its group's commit applies them.
            log.debug({ batch: batch.id, rows: batch.rows, group: batch.slice.group }, 'open slice staged');
            return batch.id;
          }
          metrics.rowsCommitted(batch.rows);
          metrics.tableRowsCommitted(batch.changes);
          metrics.batchesCommitted();
          if (batch.end !== undefined) metrics.committedUpTo(batch.lastTs);
          log.debug({ batch: batch.id, rows: batch.rows, end: batch.end === undefined ? undefined : withoutJson(batch.end), stageMs: outcome?.ms.stage, applyMs: outcome?.ms.apply }, 'batch committed');
          return batch.id;
        }),
      ),
    },
  };
}

/**
 * FerretDB 1.x (it names itself in buildInfo) updates single documents by scanning the
 * collection, so mirrors are written as whole sets per batch there; see MirrorStrategy.
 */
export function mirrorStrategyFor(caps: Capabilities): MirrorStrategy {
  return caps.ferretdb !== undefined && /^v?1\./.test(caps.ferretdb) ? 'replace-set' : 'guarded-upsert';
}
