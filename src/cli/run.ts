import { MongoClient } from 'mongodb';
import { createActor, fromPromise, toPromise, type InspectionEvent } from 'xstate';
import { Decoder } from '../actors/decoder-pool.js';
import { committerIO, mirrorStrategyFor } from '../actors/committer-io.js';
import { redactUrl, type Config } from '../config/config.js';
import { FULL_CAPABILITIES } from '../decode/wire.js';
import { startHttp } from '../http/server.js';
import { pipelineMetrics } from '../http/metrics.js';
import { createLogger, transitionLogger } from '../log.js';
import { batchFrom, batcherMachine } from '../machines/batcher.js';
import { committerMachine, StepError } from '../machines/committer.js';
import { supervisorMachine, type Prepared } from '../machines/supervisor.js';
import { probeCapabilities, type Capabilities } from '../mongo/capabilities.js';
import { offsetsCollection, readCheckpoint } from '../mongo/offsets.js';
import { acquireLease, leaseOwner, renewLease, type Lease } from '../mongo/lease.js';
import { dropSnapshotProgress } from '../mongo/snapshot-progress.js';
import { initialSnapshot } from '../snapshot/initial-snapshot.js';
import { leaseKeeper } from '../actors/lease-keeper.js';
import { COLLECTIONS, ensureIndexes } from '../mongo/layout.js';
import { checkMirrorNames } from '../mongo/names-check.js';
import { classifyMysqlError, SdlError } from '../errors.js';
import { connectExact } from '../mysql/connection.js';
import { IncludeFilter } from '../mysql/include-filter.js';
import { listTables } from '../mysql/information-schema.js';
import type { Part } from '../pipeline/batching.js';
import { mongoStep } from '../actors/mongo-step.js';

/** `sdl run`: the supervisor tree until SIGTERM/SIGINT (exit 0) or a permanent failure (1, or 2 for prerequisites). */
export interface RunOptions {
  /** Drop the pipeline's checkpoint and copy every table again (the way back from a purged binlog). */
  resnapshot?: boolean;
  /** `sdl snapshot`: take the initial snapshot, write its checkpoint and exit instead of streaming. */
  snapshotOnly?: boolean;
}

export async function run(config: Config, opts: RunOptions = {}): Promise<number> {
  const log = createLogger(config.log.level);
  log.info({ pipeline: config.pipeline, mysql: redactUrl(config.mysql.url), mongo: redactUrl(config.mongo.url), include: config.mysql.include }, 'starting');
  const m = pipelineMetrics();
  const client = new MongoClient(config.mongo.url, { serverSelectionTimeoutMS: 10_000, retryWrites: true });
  const db = client.db(config.mongo.database);
  const serverId = config.mysql.serverId !== 0 ? config.mysql.serverId : defaultServerId(config.pipeline);
  let caps: Capabilities | undefined;
  let decoder: Decoder | undefined;
  let lease: Lease | undefined;
  const owner = leaseOwner();
  const stopping = new AbortController();
  let resnapshot = opts.resnapshot === true;
  /** The snapshot in flight, so a stop waits for its current chunk before closing the clients. */
  let snapshotting: Promise<unknown> = Promise.resolve();
  const io = committerIO({ client, db, config, serverId, log, metrics: m, caps: () => caps, term: () => lease?.term });

  const preparePipeline = (): Promise<Prepared> =>
    mongoStep(async () => {
      await client.connect();
      caps = await probeCapabilities(client, db);
      log.info({ capabilities: caps }, caps.transactions ? 'MongoDB supports transactions: apply and checkpoint commit atomically' : 'MongoDB has no multi-document transactions: using the ordered idempotent protocol');
      log.info({ mirrorStrategy: mirrorStrategyFor(caps) }, 'mirror write strategy');
      if (!caps.decimal128) log.warn('MongoDB cannot store Decimal128: DECIMAL and huge BIGINT UNSIGNED values are stored as exact strings');
      if (!caps.nestedArrays) log.warn('MongoDB cannot store nested arrays: JSON values containing them are stored as their text');
      await decoder?.close();
      decoder = new Decoder({ workers: config.workers, caps: { ...FULL_CAPABILITIES, decimal128: caps.decimal128, nestedArrays: caps.nestedArrays, dottedKeys: caps.dottedKeys } });
      await ensureIndexes(db);
      await checkNames();
      lease ??= await takeLease();
      if (resnapshot) {
        const old = await readCheckpoint(db, config.pipeline);
        log.warn({ checkpoint: old?.position ?? null }, '--resnapshot: dropping this pipeline\'s checkpoint and copying every included table again');
        await offsetsCollection(db).deleteOne({ _id: config.pipeline });
        await dropSnapshotProgress(db, config.pipeline);
        // Once only: a retry of prepare (or a later restart without the flag) resumes this snapshot.
        resnapshot = false;
      }
      const cp = await readCheckpoint(db, config.pipeline);
      if (cp !== null && opts.snapshotOnly === true) {
        throw new SdlError('HAS_CHECKPOINT', `pipeline ${config.pipeline} already has a checkpoint (${cp.gtid ?? `${cp.file}:${cp.pos}`}): nothing to snapshot`, 'config', '`sdl run` resumes from it; `sdl snapshot --resnapshot` (or `sdl run --resnapshot`) drops it and copies every table again');
      }
      if (cp !== null) {
        log.info({ checkpoint: cp.position }, 'resuming from checkpoint');
        return { start: cp.position, lease };
      }
      const held = lease;
      const snapshot = initialSnapshot({
        mysqlUrl: config.mysql.url,
        include: config.mysql.include,
        db,
        commit: io.context(),
        decoder,
        chunkRows: config.snapshot.chunkRows,
        chunkBytes: config.batch.maxBytes,
        log,
        metrics: m.snapshot,
        renewLease: () => renewLease(db, config.pipeline, held, config.leaseTtlMs),
        leaseRenewMs: Math.max(250, Math.floor(config.leaseTtlMs / 3)),
        signal: stopping.signal,
      });
      snapshotting = snapshot.catch(() => undefined);
      return { start: await snapshot, lease };
    });
  const prepare = fromPromise<Prepared, void>(() => preparePipeline());

  /** Hands the pipeline over at once (no standby waits for the lease to expire) and closes the clients. */
  const release = async (): Promise<void> => {
    if (lease !== undefined) await db.collection(COLLECTIONS.leases).updateOne({ _id: config.pipeline as never, owner: lease.owner }, { $set: { expiresAt: new Date(0) } }).catch(() => undefined);
    await decoder?.close();
    await client.close().catch(() => undefined);
  };

  /** Refuses to start (exit 2) when two mirror databases would differ only by case or two tables share a mirror. */
  const checkNames = async (): Promise<void> => {
    let tables: { db: string; table: string }[];
    try {
      const conn = await connectExact(config.mysql.url);
      try {
        const filter = new IncludeFilter(config.mysql.include);
        tables = await listTables(conn, (d) => filter.includesDb(d), (d, t) => filter.includes(d, t));
      } finally {
        await conn.end();
      }
    } catch (err) {
      const info = classifyMysqlError(err);
      throw new SdlError(info.code, `MySQL (listing included tables): ${info.message}`, info.errorClass, info.hint);
    }
    const listed = await client.db('admin').command({ listDatabases: 1, nameOnly: true, authorizedDatabases: true });
    const existingDatabases = (listed['databases'] as { name: string }[]).map((d) => d.name);
    checkMirrorNames(tables, { databaseMap: config.mongo.databaseMap, sdlDatabase: config.mongo.database, existingDatabases });
  };

  const takeLease = async (): Promise<Lease> => {
    const got = await acquireLease(db, config.pipeline, owner, config.leaseTtlMs, (holder, until) => {
      log.warn({ holder, until }, 'standby: another sdl instance holds this pipeline; taking over when its lease expires');
    }, stopping.signal);
    log.info({ owner, term: got.term }, 'lease acquired: this instance writes the pipeline');
    return got;
  };

  if (opts.snapshotOnly === true) {
    // A stop lets the current chunk finish; the next start resumes after it.
    const onStop = (): void => stopping.abort();
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    try {
      const prepared = await preparePipeline();
      log.info({ start: prepared.start }, 'snapshot taken: `sdl run` streams from its position');
      return 0;
    } catch (err) {
      if (stopping.signal.aborted) {
        log.info('stopped during the snapshot; the next `sdl snapshot` or `sdl run` resumes it');
        return 0;
      }
      const info = err instanceof StepError ? err.info : { code: 'UNEXPECTED', errorClass: 'permanent' as const, message: err instanceof Error ? err.message : String(err) };
      log.fatal({ error: info }, `${info.message}${info.hint !== undefined ? ` — ${info.hint}` : ''}`);
      return info.errorClass === 'config' ? 2 : 1;
    } finally {
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      await release();
    }
  }

  const decodeBatch = fromPromise<ReturnType<typeof batchFrom>, { parts: Part[] }>(async ({ input }) => {
    if (decoder === undefined) throw new Error('decoder used before prepare');
    const changes = await decoder.decode({ transactions: input.parts });
    return batchFrom(input.parts, changes);
  });

  const machine = supervisorMachine.provide({
    actors: {
      prepare,
      batcher: batcherMachine.provide({ actors: { decodeBatch } }),
      committer: committerMachine.provide({ actors: io.actors }),
      leaseKeeper: leaseKeeper({ db, pipeline: config.pipeline, ttlMs: config.leaseTtlMs, onRenewalError: (err) => log.warn({ err: (err as Error).message }, 'lease renewal failed; retrying') }),
    },
  });
  const actor = createActor(machine, {
    systemId: 'supervisor',
    input: {
      mysqlUrl: config.mysql.url,
      serverId,
      include: config.mysql.include,
      heartbeatMs: config.mysql.heartbeatMs,
      batcher: { ...config.batch, maxInFlightBytes: config.maxInFlightBytes },
    },
    inspect: inspectAll(transitionLogger(log), m.observe),
  });

  const http = await startHttp(config.http.addr, m.registry, {
    live: () => actor.getSnapshot().status === 'active',
    ready: () => {
      const s = actor.getSnapshot();
      const state = JSON.stringify(s.value);
      return { ready: s.matches({ active: { running: 'healthy' } }), state };
    },
  }).catch((err: unknown) => {
    log.error({ err }, `cannot listen on ${config.http.addr}`);
    throw err;
  });

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      log.info({ signal: sig }, 'stopping: flushing the open batch and checkpointing');
      stopping.abort();
      actor.send({ type: 'STOP' });
    } else {
      log.warn({ signal: sig }, 'second signal: exiting now; the next start resumes from the last checkpoint');
      process.exit(1);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  actor.start();
  const output = await toPromise(actor);
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  http?.close();
  await snapshotting;
  await release();
  if (output.error !== undefined) {
    log.fatal({ error: output.error }, `${output.error.message}${output.error.hint !== undefined ? ` — ${output.error.hint}` : ''}`);
    return output.error.errorClass === 'config' ? 2 : 1;
  }
  log.info('stopped cleanly');
  return 0;
}

function inspectAll(...observers: ((ev: InspectionEvent) => void)[]): (ev: InspectionEvent) => void {
  return (ev) => {
    for (const o of observers) o(ev);
  };
}

/** A replication server id stable per pipeline, outside the range servers usually use. */
function defaultServerId(pipeline: string): number {
  let h = 0;
  for (const ch of pipeline) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return 1_000_000 + (h % 1_000_000_000);
}
