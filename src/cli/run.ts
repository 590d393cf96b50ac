import type { Db } from 'mongodb';
import { withoutJson } from '../mongo/position.js';
import { createActor, fromPromise, toPromise, type AnyActorRef, type InspectionEvent } from 'xstate';
import { Decoder, decoderWorkers } from '../actors/decoder-pool.js';
import { committerIO, mirrorStrategyFor } from '../actors/committer-io.js';
import { effectiveServerId, redactUrl, type Config } from '../config/config.js';
import { FULL_CAPABILITIES } from '../decode/wire.js';
import { startHttp } from '../http/server.js';
import { DashboardFeed } from '../http/dashboard/feed.js';
import { LiveState } from '../http/dashboard/live-state.js';
import { readStoreFacts } from '../http/dashboard/store-poll.js';
import { pipelineMetrics } from '../http/metrics.js';
import { liveStatus, type MachineSnapshot } from '../http/live-status.js';
import { readStoredStatus } from '../mongo/stored-status.js';
import { createLogger, transitionLogger } from '../log.js';
import { StallWatch } from '../machines/stall-watch.js';
import { batchFrom, batcherMachine, type DecodeInput } from '../machines/batcher.js';
import { committerMachine, StepError } from '../machines/committer.js';
import { committerInputOf, supervisorMachine, type Prepared } from '../machines/supervisor.js';
import type { Capabilities } from '../mongo/capabilities.js';
import { MongoTarget } from '../mongo/target.js';
import { describeConcern } from '../mongo/write-concern.js';
import { offsetsCollection, readCheckpoint } from '../mongo/offsets.js';
import { acquireLease, leaseOwner, renewLease, WriteFence, type Lease } from '../mongo/lease.js';
import { dropSnapshotProgress } from '../mongo/snapshot-progress.js';
import { initialSnapshot } from '../snapshot/initial-snapshot.js';
import { OnlineSnapshots } from '../snapshot/online-snapshot.js';
import { leaseKeeper } from '../actors/lease-keeper.js';
import { COLLECTIONS, ensureIndexes } from '../mongo/layout.js';
import { checkMirrorNames } from '../mongo/names-check.js';
import { classifyMysqlError, errorInfo, exitCodeOf, SdlError, type ErrorInfo } from '../errors.js';
import { connectExact, sessionTls, tlsOf } from '../mysql/connection.js';
import { IncludeFilter } from '../mysql/include-filter.js';
import { listTables } from '../mysql/information-schema.js';
import { cascadeFinding, cascadingForeignKeys, describeCascade, type CascadingForeignKey } from '../mysql/cascades.js';
import { sliceBytesFor } from '../pipeline/batching.js';
import { mongoStep } from '../actors/mongo-step.js';
import { takeOverSignals } from './signals.js';

export interface RunOptions {
  /** Drop the pipeline's checkpoint and copy every table again (the way back from a purged binlog). */
  resnapshot?: boolean;
  /** `sdl snapshot`: take the initial snapshot, write its checkpoint and exit instead of streaming. */
  snapshotOnly?: boolean;
  /** Stream the actor system to an XState inspector at this WebSocket URL. */
  inspectUrl?: string;
}

/** `sdl run`: the supervisor tree until SIGTERM/SIGINT (exit 0) or a permanent failure (1, or 2 for prerequisites). */
export async function run(config: Config, opts: RunOptions = {}): Promise<number> {
  const log = createLogger(config.log.level);
  // Handlers first: a signal that comes while sdl is still setting up must stop it cleanly too.
  let signals = 0;
  const stopping = new AbortController();
  const running: { actor?: { send(e: { type: 'STOP' }): void } } = {};
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      log.info({ signal: sig }, 'stopping: flushing the open batch and checkpointing');
      stopping.abort();
      running.actor?.send({ type: 'STOP' });
    } else {
      log.warn({ signal: sig }, 'second signal: exiting now; the next start resumes from the last checkpoint');
      process.exit(1);
    }
  };
  takeOverSignals(onSignal);
  const inspector = opts.inspectUrl === undefined ? undefined : await liveInspector(opts.inspectUrl);
  if (opts.inspectUrl !== undefined) log.info({ inspector: opts.inspectUrl }, 'streaming the actor system to the XState inspector');
  log.info({ pipeline: config.pipeline, mysql: redactUrl(config.mysql.url), mongo: redactUrl(config.mongo.url), include: config.mysql.include, heapGrowthPercent: config.heapGrowthPercent }, 'starting');
  const m = pipelineMetrics();
  // A write that passed the lease fence can still wait this long for a server before it is sent:
  // keep it within the third of a lease the fence leaves (see WriteFence), 2 s at the least.
  const target = new MongoTarget(
    { url: config.mongo.url, database: config.mongo.database, allowWeakWriteConcern: config.mongo.allowWeakWriteConcern },
    { serverSelectionTimeoutMS: Math.max(2000, Math.min(10_000, Math.floor(config.leaseTtlMs / 3))), retryWrites: true },
  );
  const serverId = effectiveServerId(config);
  // The process's claim on the pipeline: a retried prepare keeps it, and it is handed back at exit
  // even when prepare failed after taking it. The children get it from prepare's output.
  let lease: Lease | undefined;
  const owner = leaseOwner();
  const fence = new WriteFence(config.leaseTtlMs);
  let resnapshot = opts.resnapshot === true;
  let snapshotEpoch = 0;
  /** The snapshot in flight, so a stop waits for its current chunk before closing the clients. */
  let snapshotting: Promise<unknown> = Promise.resolve();
  const io = committerIO({ mongo: () => ({ client: target.client, db: target.db }), config, serverId, log, metrics: m, fence: () => fence.ready() });
  // The driver can stop seeing a MongoDB that is back after an outage (see MongoTarget.heal).
  let healing = false;
  const healer = setInterval(() => {
    if (healing) return;
    healing = true;
    target.heal().then((found) => {
      if (found === 'suspect') log.warn('MongoDB answers a new connection but not the writing client: replacing the client if that holds at the next check');
      if (found === 'replaced') log.warn('replaced the MongoDB client: it had stopped reaching a server that a new client reaches (its server monitor was stuck)');
    }, (err: unknown) => log.warn({ err: (err as Error).message }, 'MongoDB client check failed')).finally(() => {
      healing = false;
    });
  }, HEAL_CHECK_MS);
  healer.unref();

  const preparePipeline = (): Promise<Prepared> =>
    mongoStep(async () => {
      const { db, decision, caps } = await target.connect();
      m.writeConcern(decision.concern);
      const wc = { writeConcern: decision.concern, source: decision.source, enforcedByServer: decision.enforced, refused: decision.refused };
      if (decision.strong) log.info(wc, `write concern ${describeConcern(decision.concern)} for every write`);
      else log.warn(wc, `write concern ${describeConcern(decision.concern)} for every write: weaker than { w: "majority", j: true } (allowed by mongo.allowWeakWriteConcern); a committed batch can be lost with the primary`);
      if (!decision.enforced) log.warn({ writeConcern: decision.concern }, 'MongoDB acknowledged a write concern no deployment of its shape can satisfy (w: 50): it does not enforce write concerns, so durability is whatever its storage gives');
      if (caps.topology.kind === 'standalone') log.warn({ topology: caps.topology }, 'MongoDB is a standalone server: no replica set, so no copy of a write survives the loss of this server');
      log.info({ capabilities: caps }, caps.transactions ? 'MongoDB supports transactions: apply and checkpoint commit atomically' : 'MongoDB has no multi-document transactions: using the ordered idempotent protocol');
      log.info({ mirrorStrategy: mirrorStrategyFor(caps) }, 'mirror write strategy');
      if (!caps.decimal128) log.warn('MongoDB cannot store Decimal128: DECIMAL and huge BIGINT UNSIGNED values are stored as exact strings');
      if (!caps.nestedArrays) log.warn('MongoDB cannot store nested arrays: JSON values containing them are stored as their text');
      const pool = decoderWorkers(config.workers);
      log.info({ workers: pool.workers, setting: config.workers }, `decoder: ${pool.workers === 0 ? 'inline on the main thread' : `${pool.workers} pool worker${pool.workers === 1 ? '' : 's'}`}; ${pool.why}`);
      const decoder = new Decoder({ workers: pool.workers, caps: { ...FULL_CAPABILITIES, decimal128: caps.decimal128, nestedArrays: caps.nestedArrays, dottedKeys: caps.dottedKeys } });
      try {
        return await prepareWith(db, caps, decoder);
      } catch (err) {
        // A retried prepare builds its own for the capabilities it finds.
        await decoder.close();
        throw err;
      }
    });

  /** The rest of prepare, once the server is probed and the decoder built for it. */
  const prepareWith = async (db: Db, caps: Capabilities, decoder: Decoder): Promise<Prepared> => {
    await ensureIndexes(db);
    await checkNames();
    lease ??= await takeLease();
    if (resnapshot) {
      const old = await readCheckpoint(db, config.pipeline);
      log.warn({ checkpoint: old === null ? null : withoutJson(old.position) }, '--resnapshot: dropping this pipeline\'s checkpoint and copying every included table again');
      await offsetsCollection(db).deleteOne({ _id: config.pipeline });
      snapshotEpoch = old === null ? 0 : (old.position.epoch ?? 0) + 1;
      await dropSnapshotProgress(db, config.pipeline);
      // Once only: a retry of prepare (or a later restart without the flag) resumes this snapshot.
      resnapshot = false;
    }
    const cp = await readCheckpoint(db, config.pipeline);
    if (cp !== null && opts.snapshotOnly === true) {
      throw new SdlError('HAS_CHECKPOINT', `pipeline ${config.pipeline} already has a checkpoint (${cp.gtid ?? `${cp.file}:${cp.pos}`}): nothing to snapshot`, 'config', '`sdl run` resumes from it; `sdl snapshot --resnapshot` (or `sdl run --resnapshot`) drops it and copies every table again');
    }
    if (cp !== null) {
      log.info({ checkpoint: withoutJson(cp.position) }, 'resuming from checkpoint');
      return { start: cp.position, lease, caps, decoder };
    }
    const held = lease;
    const snapshot = initialSnapshot({
      mysqlUrl: config.mysql.url,
      include: config.mysql.include,
      db,
      commit: io.context({ caps, term: held.term }),
      decoder,
      chunkRows: config.snapshot.chunkRows,
      chunkBytes: config.batch.maxBytes,
      log,
      metrics: m.snapshot,
      renewLease: async () => {
        const sentAt = Date.now();
        const kept = await renewLease(db, config.pipeline, held, config.leaseTtlMs);
        if (kept) fence.renewed(sentAt);
        return kept;
      },
      leaseRenewMs: Math.max(250, Math.floor(config.leaseTtlMs / 3)),
      signal: stopping.signal,
      epoch: snapshotEpoch,
      // A person at a terminal gets a bar; a service's journal gets the progress lines.
      ...(process.stderr.isTTY ? { progressBar: process.stderr } : {}),
    });
    snapshotting = snapshot.catch(() => undefined);
    return { start: await snapshot, lease, caps, decoder };
  };
  const prepare = fromPromise<Prepared, void>(async ({ signal }) => {
    const prepared = await preparePipeline();
    // Stopped while it ran (STOP during start-up): no child will get this decoder.
    if (signal.aborted) await prepared.decoder.close();
    return prepared;
  });

  /** Hands the pipeline over at once (no standby waits for the lease to expire) and closes the clients and the decoder. */
  const release = async (decoder: Decoder | undefined): Promise<void> => {
    if (lease !== undefined) await target.db.collection(COLLECTIONS.leases).updateOne({ _id: config.pipeline as never, owner: lease.owner }, { $set: { expiresAt: new Date(0) } }).catch(() => undefined);
    await decoder?.close();
    await target.close();
    inspector?.stop();
  };

  /** Refuses to start (exit 2) when two mirror databases would differ only by case or two tables share a mirror. */
  const checkNames = async (): Promise<void> => {
    let tables: { db: string; table: string }[];
    let cascades: CascadingForeignKey[];
    try {
      const conn = await connectExact(config.mysql.url);
      try {
        logTls(await sessionTls(conn));
        const filter = new IncludeFilter(config.mysql.include);
        tables = await listTables(conn, (d) => filter.includesDb(d), (d, t) => filter.includes(d, t));
        cascades = await cascadingForeignKeys(conn, (d, t) => filter.includes(d, t));
      } finally {
        await conn.end();
      }
    } catch (err) {
      // A TLS failure arrives explained (an SdlError of class config); the rest is classified here.
      const info = errorInfo(err, classifyMysqlError);
      throw new SdlError(info.code, `MySQL (listing included tables): ${info.message}`, info.errorClass, info.hint);
    }
    refuseCascades(cascades);
    const listed = await target.client.db('admin').command({ listDatabases: 1, nameOnly: true, authorizedDatabases: true });
    const existingDatabases = (listed['databases'] as { name: string }[]).map((d) => d.name);
    checkMirrorNames(tables, { databaseMap: config.mongo.databaseMap, sdlDatabase: config.mongo.database, existingDatabases });
  };

  /** Included tables changed by foreign key actions the binlog does not carry: exit 2 unless allowed (src/mysql/cascades.ts). */
  const refuseCascades = (found: CascadingForeignKey[]): void => {
    if (found.length === 0) return;
    const finding = cascadeFinding(found, config.mysql.allowForeignKeyCascades);
    if (!finding.ok) throw new SdlError('FK_CASCADE', finding.detail, 'config', finding.fix);
    log.warn({ cascades: found.map(describeCascade) }, finding.detail);
  };

  let tlsLogged = false;
  /** Once per process: what the server says this connection negotiated, so an operator sees TLS is on. */
  const logTls = (tls: { version: string; cipher: string }): void => {
    if (tlsLogged) return;
    tlsLogged = true;
    if (tls.cipher === '') log.info({ tls: false }, 'MySQL connection is not encrypted (ssl-mode DISABLED)');
    else log.info({ tls: true, version: tls.version, cipher: tls.cipher, sslMode: tlsOf(config.mysql.url).tls.mode }, `MySQL connection is encrypted: ${tls.version} ${tls.cipher}`);
  };

  const takeLease = async (): Promise<Lease> => {
    const got = await acquireLease(target.db, config.pipeline, owner, config.leaseTtlMs, (holder, until) => {
      log.warn({ holder, until }, 'standby: another sdl instance holds this pipeline; taking over when its lease expires');
    }, stopping.signal);
    log.info({ owner, term: got.term }, 'lease acquired: this instance writes the pipeline');
    fence.renewed(got.sentAt);
    return got;
  };

  if (opts.snapshotOnly === true) {
    // A stop (the handlers above abort `stopping`) lets the current chunk finish; the next start resumes after it.
    let taken: Prepared | undefined;
    try {
      taken = await preparePipeline();
      log.info({ start: taken.start }, 'snapshot taken: `sdl run` streams from its position');
      return 0;
    } catch (err) {
      if (stopping.signal.aborted) {
        log.info('stopped during the snapshot; the next `sdl snapshot` or `sdl run` resumes it');
        return 0;
      }
      const info: ErrorInfo = err instanceof StepError ? err.info : { code: 'UNEXPECTED', errorClass: 'permanent' as const, message: err instanceof Error ? err.message : String(err) };
      log.fatal({ error: info }, `${info.message}${info.hint !== undefined ? ` — ${info.hint}` : ''}`);
      return exitCodeOf(info.errorClass);
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      await release(taken?.decoder);
    }
  }

  const decodeBatch = fromPromise<ReturnType<typeof batchFrom>, DecodeInput>(async ({ input }) => {
    const t0 = performance.now();
    // The decode task also encodes the staging payload (in the worker with a pool), so staging here writes bytes only.
    const plan = io.stagePlan(input.parts);
    const decoded = plan === undefined ? { changes: await input.decoder.decode({ transactions: input.parts }), payload: undefined } : await input.decoder.decodeStaged(input.parts, plan);
    const batch = batchFrom(input.parts, decoded.changes);
    const t1 = performance.now();
    // Staged while the committer applies the batch before it; see StageAhead.
    const staged = await io.stageAhead(batch, decoded.payload);
    log.debug({ batch: batch.id, rows: batch.rows, decodeMs: Math.round(t1 - t0), stagedAhead: staged, stageMs: Math.round(performance.now() - t1) }, 'batch decoded');
    return batch;
  });

  const machine = supervisorMachine.provide({
    actors: {
      prepare,
      batcher: batcherMachine.provide({ actors: { decodeBatch } }),
      committer: committerMachine.provide({ actors: io.actors }),
      leaseKeeper: leaseKeeper({ db: () => target.db, pipeline: config.pipeline, ttlMs: config.leaseTtlMs, fence, onRenewalError: (err) => log.warn({ err: (err as Error).message }, 'lease renewal failed; retrying') }),
    },
  });
  // The dashboard watches the same inspection stream as the metrics; without HTTP nothing runs.
  const live = new LiveState();
  const stalls = new StallWatch(log);
  const dashboard = config.http.addr === 'off' ? undefined : new DashboardFeed({ registry: m.registry, live, pipeline: config.pipeline, owner, readStore: async () => readStoreFacts(target.db, config.pipeline) });
  const actor = createActor(machine, {
    systemId: 'supervisor',
    input: {
      mysqlUrl: config.mysql.url,
      serverId,
      include: config.mysql.include,
      heartbeatMs: config.mysql.heartbeatMs,
      sliceBytes: sliceBytesFor(config),
      batcher: { ...config.batch, maxInFlightBytes: config.maxInFlightBytes },
    },
    inspect: inspectAll(transitionLogger(log), stalls.observe, m.observe, ...(dashboard === undefined ? [] : [live.observe]), ...(inspector === undefined ? [] : [inspector.inspect])),
  });

  const status = liveStatus({
    pipeline: config.pipeline,
    owner,
    registry: m.registry,
    snapshot: (name) => (name === 'supervisor' ? actor.getSnapshot() : (actor.system.get(name) as AnyActorRef | undefined)?.getSnapshot()) as MachineSnapshot | undefined,
    ready: () => actor.getSnapshot().matches({ active: { running: 'healthy' } }),
    writeConcern: () => target.decision?.concern,
    lease: () => lease,
    // Bounded, so the instance answers while MongoDB is away (the reason goes in `storedError`).
    stored: async () => readStoredStatus(target.db, config.pipeline, 1500),
  });
  const http = await startHttp(config.http.addr, m.registry, {
    live: () => actor.getSnapshot().status === 'active',
    ready: () => {
      const s = actor.getSnapshot();
      const state = JSON.stringify(s.value);
      return { ready: s.matches({ active: { running: 'healthy' } }), state };
    },
  }, { status: status.read, dashboard }).catch((err: unknown) => {
    status.stop();
    dashboard?.close();
    log.error({ err }, `cannot listen on ${config.http.addr}`);
    throw err;
  });


  /** What the supervisor's last successful prepare produced: the machines own it, this only reads it. */
  const prepared = (): Prepared | undefined => actor.getSnapshot().context.prepared;
  actor.start();
  running.actor = actor;
  if (signals > 0) actor.send({ type: 'STOP' });
  // Online re-snapshots of single tables (requests in sdl.snapshots), beside the stream.
  const online = new AbortController();
  stopping.signal.addEventListener('abort', () => online.abort(), { once: true });
  const tables = new OnlineSnapshots({
    mysqlUrl: config.mysql.url,
    db: () => target.db,
    pipeline: config.pipeline,
    commit: () => io.context(committerInputOf(preparedNow(prepared()))),
    decoder: () => preparedNow(prepared()).decoder,
    lock: io.lock,
    touched: io.touched,
    ready: () => prepared() !== undefined && actor.getSnapshot().matches({ active: { running: 'healthy' } }),
    chunkRows: config.snapshot.chunkRows,
    chunkBytes: config.batch.maxBytes,
    log,
    metrics: m.snapshot,
    signal: online.signal,
  }).run();
  const output = await toPromise(actor);
  online.abort();
  await tables;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  // Ends the dashboards' event streams first: the server closes only once its connections have.
  dashboard?.close();
  http?.close();
  status.stop();
  stalls.stop();
  clearInterval(healer);
  await snapshotting;
  await release(prepared()?.decoder);
  if (output.error !== undefined) {
    log.fatal({ error: output.error }, `${output.error.message}${output.error.hint !== undefined ? ` — ${output.error.hint}` : ''}`);
    return exitCodeOf(output.error.errorClass);
  }
  log.info('stopped cleanly');
  return 0;
}

/**
 * The WebSocket inspector, loaded only when asked for. What it sends is scrubbed: URLs lose their
 * passwords, and transactions, batches and queues are reduced to their sizes, so neither secrets
 * nor rows leave the process and the stream stays cheap (the decoder shows as its name).
 */
async function liveInspector(url: string): Promise<{ inspect: (ev: InspectionEvent) => void; stop(): void }> {
  const { createWebSocketInspector } = await import('@statelyai/inspect');
  const inspector = createWebSocketInspector({
    url,
    // Runs on the library's own timers, where a throw would end the daemon: never throw.
    serialize: (ev) => {
      try {
        return scrub(ev, 8) as typeof ev;
      } catch {
        return { type: ev.type } as typeof ev;
      }
    },
  });
  return { inspect: (ev) => inspector.inspect.next?.(ev), stop: () => inspector.stop() };
}

/** A copy fit for the inspector (see liveInspector), to `depth` levels. */
function scrub(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (depth === 0) return '…';
  if (Array.isArray(v)) return v.map((x) => scrub(x, depth - 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x === 'string' && /url$/i.test(k)) out[k] = redactUrl(x);
    else if (Array.isArray(x) && /^(changes|parts|queue|transactions|pending)$/.test(k)) out[k] = `${x.length} items`;
    // The decoder in the supervisor's and the batcher's context: its worker pool is no state to show.
    else if (k === 'decoder') out[k] = 'decoder';
    else if ((k === 'txn' || k === 'batch') && x !== null && typeof x === 'object') {
      const t = x as { id?: unknown; gtid?: unknown; rows?: unknown; changes?: unknown[] };
      out[k] = { id: t.id ?? t.gtid, rows: t.rows ?? t.changes?.length };
    } else out[k] = scrub(x, depth - 1);
  }
  return out;
}

/** Online snapshots copy only while the pipeline runs (see `ready`), which is after a prepare. */
function preparedNow(prepared: Prepared | undefined): Prepared {
  if (prepared === undefined) throw new Error('online snapshot before prepare');
  return prepared;
}

/** How often the writing client is checked against a new one (MongoTarget.heal). */
const HEAL_CHECK_MS = 10_000;

function inspectAll(...observers: ((ev: InspectionEvent) => void)[]): (ev: InspectionEvent) => void {
  return (ev) => {
    for (const o of observers) o(ev);
  };
}
