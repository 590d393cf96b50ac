import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import type { Decoder } from '../actors/decoder-pool.js';
import { classifyMysqlError, errorInfo, SdlError } from '../errors.js';
import type { PipelineMetrics } from '../http/metrics.js';
import type { Logger } from '../log.js';
import { commitBatch, type CommitContext } from '../mongo/commit.js';
import { keyIdentity } from '../mongo/key-identity.js';
import { mirrorNamespace } from '../mongo/layout.js';
import type { MirrorLock } from '../mongo/mirror-lock.js';
import { readCheckpoint } from '../mongo/offsets.js';
import { positionKey } from '../mongo/position.js';
import { nextTableSnapshot, readTableSnapshot, saveTableSnapshot, type TableSnapshotDoc } from '../mongo/table-snapshots.js';
import { connectExact } from '../mysql/connection.js';
import { currentSchema } from '../mysql/information-schema.js';
import { preflight } from '../mysql/preflight.js';
import { inOwnView } from '../mysql/snapshot-view.js';
import { assertKeysetOrder, keyOf, readChunk, readLastKey } from '../mysql/table-read.js';
import { snapshotSeq } from '../pipeline/sequence.js';
import type { Batch, DecodedChange, RawRow, RawValue, RowChange, SourcePosition, TableSchema } from '../pipeline/types.js';
import { averageRowBytes, chunkRowsFor } from './chunk-size.js';
import { SnapshotPace } from './progress-report.js';
import type { TouchedKeys } from './touched-keys.js';

export interface OnlineSnapshotDeps {
  mysqlUrl: string;
  /** The sdl database (requests, progress, event log, checkpoint), once connected. */
  db: () => Db;
  pipeline: string;
  /** The committer's context: the same decoder output goes through the same commit path. */
  commit: () => CommitContext;
  decoder: () => Pick<Decoder, 'decode'>;
  /** The committer's mirror lock (see MirrorLock). */
  lock: MirrorLock;
  /** What the committer's batches touched (see TouchedKeys). */
  touched: TouchedKeys;
  /** True while the pipeline streams healthily; requests wait otherwise. */
  ready: () => boolean;
  chunkRows: number;
  chunkBytes: number;
  log: Logger;
  metrics?: PipelineMetrics['snapshot'];
  signal: AbortSignal;
  /** How often to look for requests. */
  pollMs?: number;
  /** Progress line period (SnapshotPace). */
  progressMs?: number;
}

/** The copy under way was replaced by a newer request (a DDL or the command again). */
class Superseded extends Error {}

/**
 * Online re-snapshot of single tables while the stream goes on (`sdl snapshot --tables`, and
 * automatically after a DDL that changes stored values without row events). No lock on the
 * source and no pause of the reader: each chunk is read under its own consistent view at an
 * exact binlog position P (MariaDB's `START TRANSACTION WITH CONSISTENT SNAPSHOT`), decoded by
 * the streaming decoder and written through the streaming commit path as `op: "r"` reads with
 * `_sdl.pos` = P's snapshot seq.
 *
 * Why the mirror ends exact (the watermark argument of DBLog, with P as both watermarks and the
 * committer's record of the keys its batches touched as the window): a chunk is written under
 * the committer's mirror lock, so while it is written no batch is half applied, and every change
 * the committer wrote since the table was watched is noted (TouchedKeys). A change after P was
 * committed at the source after the view opened, so it is applied after the watch began, in this
 * process (a previous run applied only changes before P). Under the lock, every key of the chunk
 * that a change with seq > P touched (its key, or the key an update moved it from) is dropped
 * from the chunk: that change — a full row image, or a delete — is applied and is newer than the
 * chunk's image, so the stream decides that key. Every other key had no change after P applied,
 * so its document holds at most changes up to P (or damage), and P's image replaces it: the
 * position guard then refuses the changes up to P still to come (the image contains them) and
 * lets every later change overwrite it. A delete after P
 * of a written key is applied after the write, so it cannot be lost to a resurrected image.
 * Rows inserted while the copy runs: the copy reads no key past the table's last key at the
 * first chunk's view (`upTo`, saved with the progress), so a workload that keeps inserting
 * above the copy's position cannot keep it from ending. No row of that view had a larger key,
 * so a row with one was written after the first view: its change is newer than every chunk's
 * view up to then and reaches the mirror by the stream, as for any key the copy does not read.
 * Rows that no longer exist: once the last chunk is written, the documents whose `_sdl.pos` is
 * older than the first chunk's view were written by neither a chunk nor a change after it, so
 * no view of the copy had their row and no later insert of it is applied yet; they are deleted
 * (under the lock; a later insert still comes by the stream).
 *
 * Each chunk is idempotent (guarded writes, deterministic event ids), and its progress (last
 * key, first view's seq) is saved after it: a kill -9 resumes after the last saved chunk.
 */
export class OnlineSnapshots {
  private conn: Connection | undefined;
  private mariadb = true;

  constructor(private readonly deps: OnlineSnapshotDeps) {}

  /** Copies requested tables one at a time until `signal` aborts. */
  async run(): Promise<void> {
    const { log, signal } = this.deps;
    let current: TableSnapshotDoc | undefined;
    try {
      while (!signal.aborted) {
        current = undefined;
        try {
          const req = this.deps.ready() ? await nextTableSnapshot(this.deps.db(), this.deps.pipeline) : null;
          if (req === null) {
            await pause(this.deps.pollMs ?? 1000, signal);
            continue;
          }
          current = req;
          await this.copy(req);
        } catch (err) {
          if (signal.aborted) break;
          if (err instanceof Superseded) continue;
          const info = errorInfo(err, classifyMysqlError);
          if (err instanceof SdlError && err.errorClass === 'permanent' && current !== undefined) {
            // Retrying cannot help (a key sdl cannot page through): refuse this request, as the
            // MySQL refusal does, so `sdl snapshot --tables` exits 1 instead of waiting forever.
            await this.refuse(current, info.message, info.hint);
            continue;
          }
          log.warn({ error: info }, `online snapshot failed: ${info.message}; retrying in 5 s from the last saved chunk`);
          await this.close();
          await pause(5000, signal);
        }
      }
    } finally {
      await this.close();
    }
  }

  private async connection(): Promise<Connection> {
    if (this.conn === undefined) {
      this.conn = await connectExact(this.deps.mysqlUrl);
      this.mariadb = (await preflight(this.conn)).mariadb;
    }
    return this.conn;
  }

  private async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    await c?.end().catch(() => undefined);
  }

  private async copy(start: TableSnapshotDoc): Promise<void> {
    const { deps } = this;
    const name = `${start.db}.${start.table}`;
    const conn = await this.connection();
    if (!this.mariadb) {
      // MySQL gives a view's exact binlog position only under a global read lock, once per chunk.
      deps.log.error({ table: name }, `online snapshot of ${name} needs MariaDB (a consistent view's exact binlog position without a global lock); on MySQL use \`sdl verify --tables ${name} --repair\``);
      await saveTableSnapshot(deps.db(), { ...start, done: true, finishedAt: new Date(), reason: `${start.reason}; refused: MySQL source` });
      return;
    }
    const cp = await readCheckpoint(deps.db(), deps.pipeline);
    const epoch = cp?.position.epoch ?? 0;
    const estimated = await estimate(conn, start.db, start.table);
    const req = { ...start, startedAt: start.startedAt ?? new Date(), estimatedRows: start.estimatedRows ?? estimated };
    deps.touched.watch(name);
    const pace = new SnapshotPace(deps.log, deps.metrics, [{ name, rows: estimated }], req.rows, deps.progressMs);
    pace.startTable(name, req.rows);
    let limit = deps.chunkRows;
    let ended = false;
    try {
      for (;;) {
        if (deps.signal.aborted) return;
        const chunk = await this.readChunk(conn, req, limit, epoch);
        if (chunk.schema === undefined) {
          deps.log.warn({ table: name }, `online snapshot: ${name} no longer exists or has no primary or unique NOT NULL key: nothing to copy`);
          // The view that found it gone: a DROP or RENAME the stream applies only later, at or
          // before it, then counts this copy as outdated and asks again (a RENAME under the new
          // name too); done without it, the renamed table's rows were never copied.
          req.lastSeq = chunk.seq;
          req.done = true;
          req.finishedAt = new Date();
          await this.save(req);
          ended = true;
          return;
        }
        limit = chunkRowsFor(deps.chunkRows, deps.chunkBytes, averageRowBytes(chunk.rows));
        const last = chunk.rows.length < Math.max(1, Math.floor(chunk.limit));
        if (req.firstSeq === null) {
          req.firstSeq = chunk.seq;
          req.upTo = chunk.upTo;
        }
        const schema = chunk.schema;
        const ts = Date.now();
        const changes = chunk.rows.map((row, i): RowChange => ({ op: 'insert', schema: 0, before: null, after: row, id: `${i}`, seq: chunk.seq }));
        const decoded = changes.length === 0 ? [] : await deps.decoder().decode({ transactions: [{ gtid: chunk.view.gtid, ts, schemas: [schema], changes }] });
        const { skipped, deleted } = await deps.lock.exclusive(async () => {
          // A newer request (a DDL, applied under this lock) makes this chunk's rows stale.
          const now = await readTableSnapshot(deps.db(), deps.pipeline, req);
          if (now === null || now.generation !== req.generation) throw new Superseded();
          // Saved before anything read at this view is written, under the lock a DDL's apply takes:
          // it tells that DDL whether this copy wrote rows of the table as the DDL left it.
          req.lastSeq = chunk.seq;
          await this.save(req);
          return this.write({ schema, decoded, view: chunk.view, seq: chunk.seq, ts }, req, last);
        });
        if (chunk.rows.length > 0) req.after = keyOf(chunk.schema, chunk.rows[chunk.rows.length - 1] ?? {});
        req.rows += chunk.rows.length;
        req.skipped += skipped;
        if (last) {
          req.done = true;
          req.finishedAt = new Date();
        }
        await this.save(req);
        pace.add(chunk.rows.length);
        if (deleted > 0) deps.log.warn({ table: name, deleted }, `online snapshot: deleted ${deleted} mirror documents of ${name} whose rows no longer exist`);
        if (last) {
          deps.log.info({ table: name, rows: req.rows, skipped: req.skipped, reason: req.reason }, `online snapshot of ${name} complete: ${req.rows} rows read, ${req.skipped} of them left to newer streamed changes`);
          pace.endTable();
          ended = true;
          return;
        }
      }
    } finally {
      deps.touched.unwatch(name);
      if (!ended) deps.log.info({ table: name, rows: req.rows }, `online snapshot of ${name} stopped after ${req.rows} rows; it resumes after its last saved chunk`);
      pace.finish();
    }
  }

  /** Ends a request that cannot be copied: done, with `refused` in its reason (the command reports it). */
  private async refuse(req: TableSnapshotDoc, message: string, hint: string | undefined): Promise<void> {
    const name = `${req.db}.${req.table}`;
    this.deps.log.error({ table: name, hint }, `online snapshot of ${name} refused: ${message}`);
    // Saved only if no newer request came meanwhile (that one gets its own attempt).
    await saveTableSnapshot(this.deps.db(), { ...req, done: true, finishedAt: new Date(), reason: `${req.reason}; refused: ${message}` });
  }

  private async save(req: TableSnapshotDoc): Promise<void> {
    if (!(await saveTableSnapshot(this.deps.db(), req))) throw new Superseded();
  }

  /**
   * One chunk under its own consistent view, after the last saved key and not past the first
   * view's last key (`upTo`, read here under the first chunk's view).
   */
  private readChunk(conn: Connection, req: TableSnapshotDoc, limit: number, epoch: number): Promise<{ schema: TableSchema | undefined; rows: RawRow[]; view: SourcePosition; seq: string; limit: number; upTo: RawValue[] | null }> {
    return inOwnView(conn, async (at) => {
      const view: SourcePosition = { ...at, ...(epoch > 0 ? { epoch } : {}) };
      // Read inside the view: a DDL after it fails the read (ER_TABLE_DEF_CHANGED) rather than mixing definitions.
      const schema = await currentSchema(conn, req.db, req.table);
      if (schema.columns.length === 0 || schema.key.length === 0) return { schema: undefined, rows: [], view, seq: snapshotSeq(view), limit, upTo: null };
      await assertKeysetOrder(conn, schema);
      // Undefined only in a copy saved by a version without the bound: it reads to the end.
      const upTo = req.firstSeq === null ? await readLastKey(conn, schema) : req.upTo;
      const rows = upTo === null ? [] : await readChunk(conn, schema, req.after, limit, upTo);
      return { schema, rows, view, seq: snapshotSeq(view), limit, upTo: upTo ?? null };
    });
  }

  /** Under the mirror lock: drops keys changed after the view, writes the rest, and at the end deletes rows gone. */
  private async write(chunk: { schema: TableSchema; decoded: DecodedChange[]; view: SourcePosition; seq: string; ts: number }, req: TableSnapshotDoc, last: boolean): Promise<{ skipped: number; deleted: number }> {
    const { deps } = this;
    const { schema, decoded, ts } = chunk;
    const ctx = deps.commit();
    const name = `${schema.db}.${schema.table}`;
    const touched = deps.touched.after(name, chunk.seq);
    deps.touched.prune(name, chunk.seq);
    const base = `resnapshot@${req.firstSeq ?? chunk.seq}/g${req.generation}/${schema.db}.${schema.table}/`;
    const reads: DecodedChange[] = decoded
      .filter((c) => !touched.has(keyIdentity(c.key)))
      .map((c) => ({ ...c, op: 'r', id: base + keyIdentity(c.key) }));
    if (reads.length > 0) {
      const batch: Batch = { id: `${base}${positionKey(chunk.view)}`, end: undefined, lastTs: ts, changes: reads, ddl: [], rows: reads.length, bytes: 0 };
      await commitBatch({ ...ctx, stagingEnabled: false }, batch);
    }
    let deleted = 0;
    if (last && req.firstSeq !== null) {
      const ns = mirrorNamespace(schema.db, schema.table, ctx.databaseMap);
      await ctx.fence?.();
      deleted = (await ctx.client.db(ns.db).collection(ns.collection).deleteMany({ '_sdl.pos': { $lt: req.firstSeq } })).deletedCount;
    }
    return { skipped: decoded.length - reads.length, deleted };
  }
}

async function estimate(conn: Connection, db: string, table: string): Promise<number> {
  const [rows] = await conn.query('SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [db, table]);
  return Number((rows as { n: number | string | null }[])[0]?.n ?? 0);
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, undefined, { signal }).catch(() => undefined);
}
