import { withoutJson } from '../mongo/position.js';
import type { Db, MongoClient } from 'mongodb';
import { fromPromise } from 'xstate';
import type { Config } from '../config/config.js';
import type { PipelineMetrics } from '../http/metrics.js';
import type { Logger } from '../log.js';
import type { CommitterInput, StepInput } from '../machines/committer.js';
import type { Capabilities } from '../mongo/capabilities.js';
import { finishBatch, recoverPending, writeBatch, type CommitContext, type WriteOutcome } from '../mongo/commit.js';
import type { MirrorStrategy } from '../mongo/mirrors.js';
import { Staging } from '../mongo/staging.js';
import { ddlTables, type TableRef } from '../mongo/ddl-parse.js';
import { MirrorLock } from '../mongo/mirror-lock.js';
import { TouchedKeys } from '../snapshot/touched-keys.js';
import { purgeDone, readTableSnapshot, requestTableSnapshot, type TableSnapshotDoc } from '../mongo/table-snapshots.js';
import { CASCADE_FIX, CASCADE_WHY, declaresCascade } from '../mysql/cascades.js';
import { SdlError } from '../errors.js';
import { faultPoint } from '../faults.js';
import { FERRETDB_CHUNK } from '../mongo/write-shape.js';
import type { StagedPayload, StagePlan } from '../decode/wire.js';
import type { Part } from '../pipeline/batching.js';
import type { Batch } from '../pipeline/types.js';
import { snapshotSeq } from '../pipeline/sequence.js';
import { mirrorNamespace } from '../mongo/layout.js';
import { readCheckpoint } from '../mongo/offsets.js';
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
  /** Throws while this instance may not write (see WriteFence). */
  fence?: () => Promise<void>;
}

/**
 * The committer's actors over the commit protocol in src/mongo/commit.ts: recover (re-apply
 * staged batches), writeBatch (stage + apply, or apply + checkpoint in one transaction) and
 * checkpoint. Every failure leaves as a classified StepError. What `prepare` found (capabilities,
 * lease term) arrives as each step's input; what lives as long as the process (the client, the
 * staging order, the mirror lock) is kept here.
 */
export function committerIO(deps: CommitterIODeps) {
  const { config, log, metrics } = deps;
  // One for the process: its staging order and write-concern fallback carry across prepares.
  let staging: Staging | undefined;
  const stagingOf = (): Staging => (staging ??= new Staging(() => deps.mongo().db, config.pipeline, { ttl: false }));
  // The context of the newest prepare's values; the snapshot, the committer and online snapshots share it.
  let current: { caps: Capabilities; term: number | undefined; client: MongoClient; ctx: CommitContext } | undefined;
  const outcomes = new Map<string, WriteOutcome>();
  const context = ({ caps, term }: CommitterInput): CommitContext => {
    // A new client too (MongoTarget.heal replaced a wedged one): the next step writes through it.
    const { client, db } = deps.mongo();
    if (current !== undefined && current.caps === caps && current.term === term && current.client === client) return current.ctx;
    const ctx: CommitContext = {
      client,
      db,
      caps,
      pipeline: config.pipeline,
      databaseMap: config.mongo.databaseMap,
      staging: stagingOf(),
      stagingEnabled: config.staging,
      serverId: deps.serverId,
      mirrorStrategy: mirrorStrategyFor(caps),
      ...(term !== undefined ? { term } : {}),
      ...(deps.fence !== undefined ? { fence: deps.fence } : {}),
      ...(caps.ferretdb !== undefined ? { limits: FERRETDB_CHUNK } : {}),
      beforeDdl: (batch) => requestResnapshots(batch),
      sliceApplied: (slice) => {
        metrics.rowsCommitted(slice.rows);
        metrics.tableRowsCommitted(slice.changes);
      },
    };
    current = { caps, term, client, ctx };
    return ctx;
  };

  // Staging of batch n+1 overlaps the apply of batch n: the batcher stages ahead, the write step only what is left.
  const stageAhead = new StageAhead(async (batch, payload) => {
    await deps.fence?.();
    return stagingOf().stageBatch(scopeBatch(batch, config.pipeline), 'pending', payload);
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
  /**
   * A DDL that gives an included table an ON DELETE/UPDATE action which changes its rows: those
   * changes never reach the binlog (src/mysql/cascades.ts), so stop before the mirror can drift,
   * unless the operator allowed it. A start after the stop refuses for the same reason.
   */
  const refuseCascades = (batch: Batch): void => {
    for (const ddl of batch.ddl) {
      if (!declaresCascade(ddl.statement)) continue;
      const where = batch.end === undefined ? batch.id : `${batch.end.file}:${batch.end.pos}`;
      if (config.mysql.allowForeignKeyCascades) {
        log.warn({ statement: ddl.statement.slice(0, 300), position: where }, `a foreign key action that changes rows without binlog events was declared (allowed by mysql.allowForeignKeyCascades): the child table's mirror drifts until repaired`);
        continue;
      }
      throw new SdlError('FK_CASCADE', `\`${ddl.statement.slice(0, 200)}\` at ${where} declares a foreign key action on an included table: ${CASCADE_WHY}`, 'config', CASCADE_FIX);
    }
  };

  const requestResnapshots = async (batch: Batch): Promise<void> => {
    const { client, db } = deps.mongo();
    for (const ddl of batch.ddl) {
      const a = ddl.action;
      if (a === undefined) continue;
      const at = batch.end === undefined ? batch.id : `${batch.end.file}:${batch.end.pos}`;
      // Read before this statement requests anything: a request made below is not one it interrupted.
      // A copy is interrupted while unfinished, and also once done if a view of it already held
      // this DDL: the stream lagged, so that copy wrote the table as the DDL left it into the
      // mirror as it was before (a RENAME then moved those documents to the old table's new name).
      // A copy this very DDL asked for is left alone when a replay of its batch reads it again
      // (after a crash the stream reads the batch recovery applied): its views are past the DDL
      // and the mirror had the DDL when it was asked for; restarting it would only empty the
      // mirror for a while, and a finished copy would be done twice.
      const ddlSeq = batch.end === undefined ? undefined : snapshotSeq(batch.end);
      const ownRequest = (doc: TableSnapshotDoc | null): boolean =>
        doc !== null && ddlSeq !== undefined && doc.requestSeq != null && doc.requestSeq >= ddlSeq && !(doc.purgeFrom != null && doc.purgeFrom >= ddlSeq);
      const pending = new Map<string, TableSnapshotDoc>();
      const outdated = new Map<string, TableRef>();
      const docs = new Map<string, TableSnapshotDoc | null>();
      const docOf = async (t: TableRef): Promise<TableSnapshotDoc | null> => {
        if (!docs.has(refKey(t))) docs.set(refKey(t), await readTableSnapshot(db, config.pipeline, t));
        return docs.get(refKey(t)) ?? null;
      };
      for (const t of ddlTables(a)) {
        const doc = await docOf(t);
        if (doc === null || ownRequest(doc)) continue;
        // purgeFrom: this DDL's first apply found the copy outdated and may have crashed before its delete.
        const sawDdl = ddlSeq !== undefined && !doc.reason.includes('refused') && ((doc.lastSeq != null && doc.lastSeq >= ddlSeq) || (doc.purgeFrom != null && doc.purgeFrom >= ddlSeq));
        if (!doc.done || sawDdl) pending.set(refKey(t), doc);
        if (sawDdl) outdated.set(refKey(t), t);
      }
      // An outdated copy is asked for again before its documents go, so nobody sees it done with
      // its documents gone; the request carries `purgeFrom`, so a crash before the delete has the
      // retried batch delete again. All under the mirror lock: no chunk of the new copy is written
      // before the delete. Deleted: what it wrote from views past this DDL (the stream has written
      // nothing at or past it yet, or, replaying it, the new copy writes those rows again; the
      // identical view seq would keep the new copy's end from deleting them).
      const requested = new Set<string>();
      const request = async (t: TableRef, reason: string): Promise<void> => {
        const purge = ddlSeq !== undefined && outdated.has(refKey(t)) ? { purgeFrom: ddlSeq } : {};
        await requestTableSnapshot(db, config.pipeline, t, reason, { ...(ddlSeq === undefined ? {} : { seq: ddlSeq }), ...purge });
        requested.add(refKey(t));
        faultPoint('after-copy-request');
      };
      const copies = ddl.copies;
      for (const t of copies?.tables ?? []) {
        if (ownRequest(await docOf(t))) continue;
        const name = `${t.db}.${t.table}`;
        log.warn({ db: t.db, table: t.table, changes: copies?.why, position: batch.end === undefined ? undefined : withoutJson(batch.end) },
          `${name}: ${copies?.why.join(', ')} may change stored rows without row events: re-snapshotting ${name} online (progress in the snapshot log lines and /metrics)`);
        await request(t, `${copies?.why.join(', ')} at ${at}`);
      }
      for (const t of ddlTables(a)) {
        const doc = pending.get(refKey(t));
        if (doc === undefined || requested.has(refKey(t))) continue;
        log.warn({ db: t.db, table: t.table, ddl: a.kind }, `${t.db}.${t.table}: DDL during its online snapshot (or older than a view it read): starting the copy over`);
        await request(t, `${doc.reason}; restarted after ${a.kind} DDL`);
      }
      if (outdated.size > 0) faultPoint('before-copy-purge');
      for (const t of outdated.values()) {
        if (ddlSeq === undefined) continue;
        const ns = mirrorNamespace(t.db, t.table, config.mongo.databaseMap);
        await deps.fence?.();
        const gone = await client.db(ns.db).collection(ns.collection).deleteMany({ '_sdl.pos': { $gte: ddlSeq } });
        await purgeDone(db, config.pipeline, t);
        log.warn({ db: t.db, table: t.table, deleted: gone.deletedCount }, `${t.db}.${t.table}: its online snapshot read the table after this DDL, which the stream applies only now: deleted the ${gone.deletedCount} documents it wrote from those views, copying again`);
      }
      if (a.kind !== 'rename') continue;
      // A renamed table takes its mirror, copied only in part, to its new name: the copy must go on
      // there. In a replay, a copy of the old name this DDL asked for again was one it interrupted
      // (a crash may have come before the request under the new name).
      for (const [i, p] of a.pairs.entries()) {
        const from = docs.get(refKey(p.from)) ?? null;
        const doc = pending.get(refKey(p.from)) ?? (ownRequest(from) ? from : null);
        const to = renamedTo(a.pairs, i);
        if (doc === null || requested.has(refKey(to)) || ownRequest(await docOf(to)) || (a.leaving ?? []).some((t) => refKey(t) === refKey(to))) continue;
        log.warn({ db: to.db, table: to.table, from: `${p.from.db}.${p.from.table}` }, `${to.db}.${to.table}: renamed from ${p.from.db}.${p.from.table} during its online snapshot: copying it under its new name`);
        await request(to, `${doc.reason}; renamed from ${p.from.db}.${p.from.table} at ${at}`);
      }
      // Up to the initial snapshot's newest view (a view at the RENAME's end holds it, and tables
      // read at views before it did not), the snapshot may have read a renamed table in part, or
      // not at all, under its old name, and read the new name before the RENAME: each name it
      // leaves is copied again (the mirror's merge of the RENAME keeps the newer images).
      const until = ddlSeq === undefined ? undefined : (await readCheckpoint(db, config.pipeline))?.snapshotUntil;
      if (ddlSeq === undefined || until === undefined || ddlSeq > until) continue;
      for (const [i, p] of a.pairs.entries()) {
        const to = renamedTo(a.pairs, i);
        if (requested.has(refKey(to)) || ownRequest(await docOf(to)) || (a.leaving ?? []).some((t) => refKey(t) === refKey(to))) continue;
        log.warn({ db: to.db, table: to.table, from: `${p.from.db}.${p.from.table}` }, `${to.db}.${to.table}: renamed from ${p.from.db}.${p.from.table} while the initial snapshot ran: copying it again online`);
        await request(to, `renamed from ${p.from.db}.${p.from.table} at ${at}, during the initial snapshot`);
      }
    }
  };

  return {
    /** The commit context for a prepare's values (the committer's, the initial and online snapshots', so all write alike). */
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
      recover: fromPromise<unknown, CommitterInput>(({ input }) =>
        mongoStep(async () => {
          stageAhead.reset();
          const results = await lock.exclusive(() => recoverPending(context(input)));
          if (results.length > 0) log.warn({ batches: results.length, rows: results.reduce((n, r) => n + r.eventsInserted + r.duplicatesIgnored, 0) }, 're-applied staged batches left pending by the previous run');
          return results.length;
        }),
      ),
      writeBatch: fromPromise<unknown, StepInput>(({ input }) =>
        mongoStep(async () => {
          // A slice of a streamed transaction stages itself (open, or after its group's slices turn pending): never ahead.
          const sliced = input.batch.slice !== undefined;
          refuseCascades(input.batch);
          const staged = config.staging && !sliced ? await stageAhead.stagedOrStage(input.batch) : null;
          const written = await lock.exclusive(async () => {
            // Noted before the write: a write that fails half way may have applied some of it.
            touched.note(input.batch.changes);
            return sliced ? writeBatch(context(input), input.batch) : writeBatch(context(input), input.batch, false);
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
      checkpoint: fromPromise<unknown, StepInput>(({ input }) =>
        mongoStep(async () => {
          const { batch } = input;
          const outcome = outcomes.get(batch.id);
          // Without the write outcome (it cannot be lost between the two steps, but be safe) the
          // idempotent path is always correct: write the checkpoint, release the staged copy.
          const written = await finishBatch(context(input), batch, outcome ?? { transaction: false, checkpoint: null, staged: config.staging ? { parts: 0, bytes: 0 } : null });
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

const refKey = (t: TableRef): string => `${t.db}.${t.table}`;

/** Where pair i of a RENAME chain leaves its table once the whole statement ran (`a TO b, b TO c`: c). */
function renamedTo(pairs: { from: TableRef; to: TableRef }[], i: number): TableRef {
  let at = pairs[i]?.to ?? { db: '', table: '' };
  for (const p of pairs.slice(i + 1)) if (refKey(p.from) === refKey(at)) at = p.to;
  return at;
}
