import { resnapshotHint } from '../mysql/resnapshot-hint.js';
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
import { FERRETDB_CHUNK } from '../mongo/write-shape.js';
import type { Batch } from '../pipeline/types.js';
import { mongoStep } from './mongo-step.js';

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

  /** DDL that changes stored rows without row events: the mirror keeps the old values of untouched rows. */
  const warnDdl = (batch: Batch): void => {
    for (const ddl of batch.ddl) {
      const a = ddl.action;
      if (a?.kind !== 'alter' || a.stale.length === 0) continue;
      const name = `${a.table.db}.${a.table.table}`;
      log.warn({ db: a.table.db, table: a.table.table, changes: a.stale, position: batch.end === undefined ? undefined : withoutJson(batch.end) },
        `${name}: ${a.stale.join(', ')} may change stored rows without row events; mirror documents of rows not written since keep their old values until repaired: once sdl has passed it, \`sdl verify --tables ${name} --repair\` re-copies the rows that differ (or ${resnapshotHint([name])})`);
    }
  };

  return {
    /** The commit context the committer uses (also the initial snapshot's, so both write alike). */
    context,
    actors: {
      recover: fromPromise<unknown, void>(() =>
        mongoStep(async () => {
          const results = await recoverPending(context());
          if (results.length > 0) log.warn({ batches: results.length, rows: results.reduce((n, r) => n + r.eventsInserted + r.duplicatesIgnored, 0) }, 're-applied staged batches left pending by the previous run');
          return results.length;
        }),
      ),
      writeBatch: fromPromise<unknown, { batch: Batch }>(({ input }) =>
        mongoStep(async () => {
          const outcome = await writeBatch(context(), input.batch);
          outcomes.set(input.batch.id, outcome);
          metrics.duplicatesIgnored(outcome.counts.duplicatesIgnored);
          warnKeyless(input.batch);
          warnDdl(input.batch);
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
          if (batch.slice?.open === true) {
            // Staged only: its rows count as committed when its group's commit applies them.
            log.debug({ batch: batch.id, rows: batch.rows, group: batch.slice.group }, 'open slice staged');
            return batch.id;
          }
          metrics.rowsCommitted(batch.rows);
          metrics.tableRowsCommitted(batch.changes);
          metrics.batchesCommitted();
          if (batch.end !== undefined) metrics.committedUpTo(batch.lastTs);
          log.debug({ batch: batch.id, rows: batch.rows, end: batch.end === undefined ? undefined : withoutJson(batch.end) }, 'batch committed');
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
