import { MongoError, type Db } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import type { Decoder } from '../actors/decoder-pool.js';
import { classifyMysqlError, SdlError } from '../errors.js';
import type { PipelineMetrics } from '../http/metrics.js';
import type { Logger } from '../log.js';
import { commitBatch, type CommitContext } from '../mongo/commit.js';
import { keyIdentity } from '../mongo/key-identity.js';
import { mirrorNamespace } from '../mongo/layout.js';
import { writeCheckpoint } from '../mongo/offsets.js';
import { positionKey, withoutJson } from '../mongo/position.js';
import { dropSnapshotProgress, readSnapshotProgress, saveSnapshotProgress, type SnapshotProgressDoc } from '../mongo/snapshot-progress.js';
import { connectExact } from '../mysql/connection.js';
import { IncludeFilter } from '../mysql/include-filter.js';
import { currentSchema, listTables } from '../mysql/information-schema.js';
import { preflight } from '../mysql/preflight.js';
import { openSnapshotView } from '../mysql/snapshot-view.js';
import { JsonColumns } from '../mysql/json-columns.js';
import { assertKeysetOrder, keyOf, readChunk } from '../mysql/table-read.js';
import { snapshotSeq } from '../pipeline/sequence.js';
import { sourceIdentity } from '../mysql/source-identity.js';
import type { Batch, DecodedChange, RowChange, SourcePosition, TableSchema } from '../pipeline/types.js';
import { averageRowBytes, chunkRowsFor } from './chunk-size.js';
import type { BarOutput } from './progress-bar.js';
import { SnapshotPace } from './progress-report.js';

export interface SnapshotDeps {
  mysqlUrl: string;
  include: readonly string[];
  /** The sdl database (progress, checkpoint). */
  db: Db;
  /** The streaming commit path's context; staging is not used (every chunk is idempotent). */
  commit: CommitContext;
  decoder: Decoder;
  chunkRows: number;
  /** Bytes of row data per chunk at most (about): large rows make chunks of fewer rows. */
  chunkBytes: number;
  log: Logger;
  metrics?: PipelineMetrics['snapshot'];
  /** Renews the single-writer lease; false when another instance took it. */
  renewLease: () => Promise<boolean>;
  /** How often to renew it (a third of its TTL): on a timer, since one chunk may outlast the lease. */
  leaseRenewMs: number;
  /** Aborted on SIGTERM: the snapshot stops after its current chunk (the next start resumes). */
  signal: AbortSignal;
  /**
   * Source epoch of a new snapshot (see SourcePosition.epoch): one past the dropped checkpoint's
   * on `--resnapshot`, so its copies and later changes sort after every document written before.
   */
  epoch: number;
  /** A terminal to draw the progress bar on (stderr when it is a TTY); progress log lines otherwise. */
  progressBar?: BarOutput;
}

/**
 * The initial snapshot (DESIGN.md, step 7): copies every included table under a consistent
 * view into the mirrors through the streaming commit path, then saves the binlog checkpoint at
 * the position streaming must start from, and returns it.
 *
 * Resumable: after each chunk the progress (table, last key) is saved. A restart opens a new
 * view at a later position P2 and continues after the last key; the rows it copies carry
 * P2's seq, so the binlog changes between the first view's position P1 and P2, which streaming
 * replays from P1, cannot overwrite them with older images, while every key copied at P1
 * receives them. Keys that exist in no view leave no document: once a table is copied, mirror
 * documents older than P1 (left from before a `--resnapshot`) are deleted.
 */
export async function initialSnapshot(deps: SnapshotDeps): Promise<SourcePosition> {
  let conn: Connection | undefined;
  const lease = new LeaseRenewal(deps);
  try {
    conn = await connectExact(deps.mysqlUrl);
    const server = await preflight(conn);
    const stored = await readSnapshotProgress(deps.db, deps.commit.pipeline);
    // Every view of one snapshot, and the stream after it, belong to the first view's epoch.
    const epoch = stored?.start.epoch ?? deps.epoch;
    const view: SourcePosition = { ...(await openSnapshotView(conn, server.mariadb)), ...(epoch > 0 ? { epoch } : {}), source: await sourceIdentity(conn) };
    // Streaming starts at the first view: which columns are JSON is what the server says then.
    const progress: SnapshotProgressDoc = stored === null
      ? { _id: deps.commit.pipeline, start: { ...view, json: (await JsonColumns.read(conn)).state() }, startedAt: new Date(), done: [], current: null, rows: 0, views: 1, updatedAt: new Date() }
      : { ...stored, views: stored.views + 1 };
    if (stored === null) deps.log.warn({ position: view }, 'no checkpoint: initial snapshot of every included table, then streaming from its position');
    else deps.log.warn({ start: withoutJson(stored.start), view, done: stored.done, current: stored.current }, 'resuming the initial snapshot after its last committed chunk');
    await saveSnapshotProgress(deps.db, progress);

    const filter = new IncludeFilter(deps.include);
    const tables = await listTables(conn, (d) => filter.includesDb(d), (d, t) => filter.includes(d, t));
    const stats = await estimates(conn, tables);
    const pace = new SnapshotPace(deps.log, deps.metrics, stats, progress.rows, undefined, deps.progressBar);
    const copy = new TableCopy(deps, conn, progress, view, pace, lease);
    for (const [i, { db, table }] of tables.entries()) {
      if (progress.done.includes(`${db}.${table}`)) continue;
      await copy.table(await currentSchema(conn, db, table), stats[i]?.rowBytes ?? 0);
    }
    pace.finish();
    await conn.query('COMMIT');

    const cp = await writeCheckpoint(deps.db, deps.commit.pipeline, progress.start, {
      ...(deps.commit.serverId !== undefined ? { serverId: deps.commit.serverId } : {}),
      ...(deps.commit.term !== undefined ? { term: deps.commit.term } : {}),
    });
    if (!cp.written) throw new SdlError('SNAPSHOT_CHECKPOINT', `pipeline ${deps.commit.pipeline} already has a newer checkpoint (${JSON.stringify(cp.stored)}) than its snapshot (${positionKey(progress.start)})`, 'permanent', 'another sdl instance wrote this pipeline meanwhile; run one instance per pipeline, or start again with --resnapshot');
    await dropSnapshotProgress(deps.db, deps.commit.pipeline);
    deps.log.info({ start: withoutJson(progress.start), rows: progress.rows, views: progress.views }, 'initial snapshot complete: streaming from its position');
    return progress.start;
  } catch (err) {
    // MongoDB failures are classified by the caller (mongoStep); everything else here is MySQL.
    if (err instanceof SdlError || err instanceof MongoError) throw err;
    const info = classifyMysqlError(err);
    throw new SdlError(info.code, `MySQL (initial snapshot): ${info.message}`, info.errorClass, info.hint, { cause: err });
  } finally {
    lease.stop();
    await conn?.end().catch(() => undefined);
  }
}

/** Keeps the single-writer lease alive while the snapshot runs; remembers a loss for the next chunk. */
class LeaseRenewal {
  private lost = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly deps: SnapshotDeps) {
    this.timer = setInterval(() => {
      deps.renewLease().then(
        (held) => {
          if (!held) this.lost = true;
        },
        (err: unknown) => deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'lease renewal failed during the snapshot; retrying'),
      );
    }, deps.leaseRenewMs);
  }

  assertHeld(): void {
    if (this.lost) throw new SdlError('LEASE_LOST', `another sdl instance took over pipeline ${this.deps.commit.pipeline} during its initial snapshot`, 'permanent', 'expected after a failover to a standby, which resumes the snapshot; otherwise check that the MongoDB clocks and the leaseTtlMs of both instances agree');
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Copies one table in key order, a chunk at a time, saving the progress after each chunk. */
class TableCopy {
  private readonly seq: string;
  private readonly startSeq: string;
  private readonly viewTs = Date.now();

  constructor(
    private readonly deps: SnapshotDeps,
    private readonly conn: Connection,
    private readonly progress: SnapshotProgressDoc,
    private readonly view: SourcePosition,
    private readonly pace: SnapshotPace,
    private readonly lease: LeaseRenewal,
  ) {
    this.seq = snapshotSeq(view);
    this.startSeq = snapshotSeq(progress.start);
  }

  /** `rowBytes`: the source's average row length, for the first chunk's size (later ones use what was read). */
  async table(schema: TableSchema, rowBytes: number): Promise<void> {
    const name = `${schema.db}.${schema.table}`;
    if (schema.key.length === 0) {
      this.deps.log.warn({ table: name }, `snapshot: ${name} has no primary or unique NOT NULL key: not copied (its later changes go to the event log only)`);
      await this.tableDone(name);
      return;
    }
    await assertKeysetOrder(this.conn, schema);
    const cur = this.progress.current;
    const resumed = cur !== null && cur.db === schema.db && cur.table === schema.table ? cur : null;
    let after = resumed?.after ?? null;
    let rows = resumed?.rows ?? 0;
    let limit = chunkRowsFor(this.deps.chunkRows, this.deps.chunkBytes, rowBytes);
    this.pace.startTable(name, rows);
    for (;;) {
      if (this.deps.signal.aborted) throw new SdlError('STOPPED', `stopped during the initial snapshot of ${name}; the next start resumes after row ${rows}`, 'permanent');
      this.lease.assertHeld();
      const chunk = await readChunk(this.conn, schema, after, limit);
      if (chunk.length === 0) break;
      limit = chunkRowsFor(this.deps.chunkRows, this.deps.chunkBytes, averageRowBytes(chunk));
      await this.commit(schema, chunk.map((row, i): RowChange => ({ op: 'insert', schema: 0, before: null, after: row, id: `${i}`, seq: this.seq })));
      after = keyOf(schema, chunk[chunk.length - 1] ?? {});
      rows += chunk.length;
      this.progress.rows += chunk.length;
      this.progress.current = { db: schema.db, table: schema.table, after, rows };
      await saveSnapshotProgress(this.deps.db, this.progress);
      this.pace.add(chunk.length);
    }
    // Documents no view of this snapshot wrote are rows gone from the source before it.
    const ns = mirrorNamespace(schema.db, schema.table, this.deps.commit.databaseMap);
    const stale = await this.deps.commit.client.db(ns.db).collection(ns.collection).deleteMany({ '_sdl.pos': { $lt: this.startSeq } });
    if (stale.deletedCount > 0) this.deps.log.warn({ table: name, deleted: stale.deletedCount }, `snapshot: deleted ${stale.deletedCount} mirror documents of ${name} whose rows no longer exist`);
    this.pace.endTable();
    await this.tableDone(name);
  }

  private async tableDone(name: string): Promise<void> {
    this.progress.done.push(name);
    this.progress.current = null;
    await saveSnapshotProgress(this.deps.db, this.progress);
  }

  /** Decoded by the streaming decoder and written by the streaming commit path, as `r` events. */
  private async commit(schema: TableSchema, changes: RowChange[]): Promise<void> {
    const decoded = await this.deps.decoder.decode({ transactions: [{ gtid: this.view.gtid, ts: this.viewTs, schemas: [schema], changes }] });
    const base = `snapshot@${positionKey(this.progress.start)}/${schema.db}.${schema.table}/`;
    // One event per row and snapshot, whichever view copied it: the id names the key, not the view.
    const reads: DecodedChange[] = decoded.map((c) => ({ ...c, op: 'r', id: base + keyIdentity(c.key) }));
    const batch: Batch = { id: reads[0]?.id ?? `${base}empty`, end: undefined, lastTs: this.viewTs, changes: reads, ddl: [], rows: reads.length, bytes: 0 };
    await commitBatch({ ...this.deps.commit, stagingEnabled: false }, batch);
  }
}

/** The source's estimates (InnoDB statistics) of row counts, for progress and ETA, and of row lengths, for chunk sizes. */
async function estimates(conn: Connection, tables: readonly { db: string; table: string }[]): Promise<{ name: string; rows: number; rowBytes: number }[]> {
  const [rows] = await conn.query('SELECT TABLE_SCHEMA AS db, TABLE_NAME AS t, TABLE_ROWS AS n, AVG_ROW_LENGTH AS len FROM information_schema.TABLES');
  const byName = new Map((rows as { db: string; t: string; n: number | string | null; len: number | string | null }[]).map((r) => [`${r.db}.${r.t}`, { rows: Number(r.n ?? 0), rowBytes: Number(r.len ?? 0) }]));
  return tables.map(({ db, table }) => ({ name: `${db}.${table}`, rows: byName.get(`${db}.${table}`)?.rows ?? 0, rowBytes: byName.get(`${db}.${table}`)?.rowBytes ?? 0 }));
}
