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
import { inOwnView, openSnapshotView } from '../mysql/snapshot-view.js';
import { JsonColumns } from '../mysql/json-columns.js';
import { assertKeysetOrder, ER_NO_SUCH_TABLE, ER_TABLE_DEF_CHANGED, keyOf, readChunk, readLastKey } from '../mysql/table-read.js';
import { snapshotSeq } from '../pipeline/sequence.js';
import { sourceIdentity } from '../mysql/source-identity.js';
import type { Batch, DecodedChange, RawRow, RawValue, RowChange, SourcePosition, TableSchema } from '../pipeline/types.js';
import { averageRowBytes, chunkRowsFor } from './chunk-size.js';
import type { BarOutput } from './progress-bar.js';
import { sweepLeftoverMirrors } from './leftover-mirrors.js';
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
 * The initial snapshot (DESIGN.md, step 7): copies every included table into the mirrors
 * through the streaming commit path, then saves the binlog checkpoint at the position streaming
 * must start from (the first view's, P1), and returns it.
 *
 * Chunks are read at views at or after P1 (on MariaDB one per chunk, see ViewPerChunk; on MySQL
 * P1's, or a later one after a restart). Progress (table, last key) is saved after each chunk,
 * and a restart continues after the last key. Rows copied at a view P2 carry P2's seq, so the
 * binlog changes between P1 and P2, which streaming replays from P1, cannot overwrite them with
 * older images, while every key copied earlier receives them. Keys that exist in no view leave
 * no document: once a table is copied, mirror documents older than P1 (left from before a
 * `--resnapshot`) are deleted, and so are the mirrors of included tables gone from the source.
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
    const source = await sourceIdentity(conn);
    const view: SourcePosition = { ...(await openSnapshotView(conn, server.mariadb)), ...(epoch > 0 ? { epoch } : {}), source };
    // Streaming starts at the first view: which columns are JSON is what the server says then.
    const progress: SnapshotProgressDoc = stored === null
      ? { _id: deps.commit.pipeline, start: { ...view, json: (await JsonColumns.read(conn)).state() }, startedAt: new Date(), done: [], current: null, rows: 0, views: 1, updatedAt: new Date() }
      : { ...stored, views: stored.views + 1 };
    await saveSnapshotProgress(deps.db, progress);
    // MariaDB: every chunk is read under a view of its own (ChunkReader), so no transaction
    // stays open across the snapshot: a DDL on a table already read would wait for its end (a
    // metadata lock), and every write to that table would queue behind the DDL.
    const filter = new IncludeFilter(deps.include);
    const tables = await listTables(conn, (d) => filter.includesDb(d), (d, t) => filter.includes(d, t));
    // Once the tables are listed: a table created after this line is the stream's alone.
    if (stored === null) deps.log.warn({ position: view, tables: tables.length }, 'no checkpoint: initial snapshot of every included table, then streaming from its position');
    else deps.log.warn({ start: withoutJson(stored.start), view, tables: tables.length, done: stored.done, current: stored.current }, 'resuming the initial snapshot after its last committed chunk');
    const reader: ChunkReader = server.mariadb ? new ViewPerChunk(conn, epoch, source) : new OneView(conn, view);
    if (server.mariadb) {
      if (stored === null) {
        progress.upTo = await lastKeysAtView(conn, tables);
        await saveSnapshotProgress(deps.db, progress);
      }
      await conn.query('COMMIT');
    }
    const stats = await estimates(conn, tables);
    const pace = new SnapshotPace(deps.log, deps.metrics, stats, progress.rows, undefined, deps.progressBar);
    const copy = new TableCopy(deps, reader, progress, pace, lease);
    for (const [i, { db, table }] of tables.entries()) {
      if (progress.done.includes(`${db}.${table}`)) continue;
      await copy.table(db, table, stats[i]?.rowBytes ?? 0);
    }
    pace.finish();
    await reader.end();
    // Only on --resnapshot (a later epoch): mirrors from before a first run are not this pipeline's to judge.
    if (epoch > 0) {
      lease.assertHeld();
      await sweepLeftoverMirrors({
        client: deps.commit.client, sdlDatabase: deps.db.databaseName, databaseMap: deps.commit.databaseMap ?? {}, filter, tables,
        startSeq: snapshotSeq(progress.start), ...(deps.commit.fence !== undefined ? { fence: deps.commit.fence } : {}), log: deps.log,
      });
    }

    const cp = await writeCheckpoint(deps.db, deps.commit.pipeline, progress.start, {
      ...(deps.commit.serverId !== undefined ? { serverId: deps.commit.serverId } : {}),
      ...(deps.commit.term !== undefined ? { term: deps.commit.term } : {}),
      // Tables were read at views up to here: a RENAME the stream reads up to it may have moved a
      // table the copy read only in part, or not at all, under its old name (see committer-io).
      snapshotUntil: progress.lastSeq ?? snapshotSeq(progress.start),
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

/** One chunk of a table as read: under which view, with the table's definition at that view. */
interface ReadChunk {
  /** Undefined: the table is gone (dropped or renamed since it was listed). */
  schema: TableSchema | undefined;
  rows: RawRow[];
  view: SourcePosition;
  seq: string;
  /** The last key at the table's first view (see ViewPerChunk); null: the table was empty then. */
  upTo: RawValue[] | null | undefined;
}

/** Where the chunks of the snapshot are read from. */
interface ChunkReader {
  /** `key`: the key `after` and `upTo` belong to; under another one no rows are read (the caller sees the change). */
  chunk(db: string, table: string, after: RawValue[] | null, limit: number, upTo: RawValue[] | null | undefined, key: readonly string[] | undefined): Promise<ReadChunk>;
  end(): Promise<void>;
}

/**
 * MariaDB: each chunk under its own consistent view at an exact position, the table's
 * definition read inside it (a DDL after the view fails the read with ER_TABLE_DEF_CHANGED
 * instead of mixing definitions). A row gets its view's seq, so the changes the stream replays
 * from the first view cannot overwrite it with an older image and every later one reaches it,
 * and a DDL replayed behind it leaves it as read (src/mongo/ddl.ts): the argument that makes a
 * resumed snapshot exact, for every chunk. A table stops at its last key at its first chunk's
 * view (`upTo`): rows above it were inserted later and arrive as changes, so a table written
 * faster than it is read still ends.
 */
class ViewPerChunk implements ChunkReader {
  /** Tables whose key was found pageable (a later change of the key stops the copy: see TableCopy). */
  private readonly pageable = new Set<string>();

  constructor(
    private readonly conn: Connection,
    private readonly epoch: number,
    private readonly source: string,
  ) {}

  chunk(db: string, table: string, after: RawValue[] | null, limit: number, upTo: RawValue[] | null | undefined, key: readonly string[] | undefined): Promise<ReadChunk> {
    return inOwnView(this.conn, async (at) => {
      const view: SourcePosition = { ...at, ...(this.epoch > 0 ? { epoch: this.epoch } : {}), source: this.source };
      try {
        const schema = await currentSchema(this.conn, db, table);
        if (schema.columns.length === 0) return { schema: undefined, rows: [], view, seq: snapshotSeq(view), upTo };
        if (schema.key.length === 0 || keyChanged(schema, key, after, upTo)) return { schema, rows: [], view, seq: snapshotSeq(view), upTo };
        if (!this.pageable.has(`${db}.${table}`)) {
          await assertKeysetOrder(this.conn, schema);
          this.pageable.add(`${db}.${table}`);
        }
        const last = upTo === undefined ? await readLastKey(this.conn, schema) : upTo;
        const rows = last === null ? [] : await readChunk(this.conn, schema, after, limit, last);
        return { schema, rows, view, seq: snapshotSeq(view), upTo: last };
      } catch (err) {
        // Dropped or renamed between the definition and the rows: gone, as if found so above.
        if ((err as { errno?: number }).errno === ER_NO_SUCH_TABLE) return { schema: undefined, rows: [], view, seq: snapshotSeq(view), upTo };
        throw err;
      }
    });
  }

  async end(): Promise<void> {
    // Each chunk ended its own view.
  }
}

/** MySQL: one view for the whole snapshot (an exact position there needs a global read lock, so it is taken once). */
class OneView implements ChunkReader {
  private readonly seq: string;
  private readonly schemas = new Map<string, TableSchema>();

  constructor(
    private readonly conn: Connection,
    private readonly view: SourcePosition,
  ) {
    this.seq = snapshotSeq(view);
  }

  async chunk(db: string, table: string, after: RawValue[] | null, limit: number, _upTo: RawValue[] | null | undefined, key: readonly string[] | undefined): Promise<ReadChunk> {
    const name = `${db}.${table}`;
    let schema = this.schemas.get(name);
    if (schema === undefined) {
      schema = await currentSchema(this.conn, db, table);
      if (schema.columns.length === 0) return { schema: undefined, rows: [], view: this.view, seq: this.seq, upTo: undefined };
      if (schema.key.length > 0 && !keyChanged(schema, key, after)) await assertKeysetOrder(this.conn, schema);
      this.schemas.set(name, schema);
    }
    const rows = schema.key.length === 0 || keyChanged(schema, key, after) ? [] : await readChunk(this.conn, schema, after, limit);
    return { schema, rows, view: this.view, seq: this.seq, upTo: undefined };
  }

  async end(): Promise<void> {
    await this.conn.query('COMMIT');
  }
}

/**
 * A key other than the one a resumed copy's position belongs to (a table re-created or altered
 * since): its `after` would page the new key wrong, or be refused (ER_WRONG_ARGUMENTS) forever.
 * A progress document of an older version names no key: its position's length tells.
 */
function keyChanged(schema: TableSchema, key: readonly string[] | undefined, after: RawValue[] | null, upTo?: RawValue[] | null): boolean {
  if (key !== undefined) return schema.key.join('\u0000') !== key.join('\u0000');
  return [after, upTo].some((k) => k !== null && k !== undefined && k.length !== schema.key.length);
}

/** Copies one table in key order, a chunk at a time, saving the progress after each chunk. */
class TableCopy {
  private readonly startSeq: string;

  constructor(
    private readonly deps: SnapshotDeps,
    private readonly reader: ChunkReader,
    private readonly progress: SnapshotProgressDoc,
    private readonly pace: SnapshotPace,
    private readonly lease: LeaseRenewal,
  ) {
    this.startSeq = snapshotSeq(progress.start);
  }

  /** `rowBytes`: the source's average row length, for the first chunk's size (later ones use what was read). */
  async table(db: string, table: string, rowBytes: number): Promise<void> {
    const name = `${db}.${table}`;
    const cur = this.progress.current;
    const resumed = cur !== null && cur.db === db && cur.table === table ? cur : null;
    let after = resumed?.after ?? null;
    let rows = resumed?.rows ?? 0;
    const first = this.progress.upTo?.find((u) => u.table === name);
    let upTo = resumed !== null ? resumed.upTo : first?.key;
    // The key the saved position (or the bound read at the first view) belongs to.
    let key: readonly string[] | undefined = resumed !== null ? resumed.key : first?.columns;
    let limit = chunkRowsFor(this.deps.chunkRows, this.deps.chunkBytes, rowBytes);
    this.pace.startTable(name, rows);
    for (;;) {
      if (this.deps.signal.aborted) throw new SdlError('STOPPED', `stopped during the initial snapshot of ${name}; the next start resumes after row ${rows}`, 'permanent');
      this.lease.assertHeld();
      const chunk = await this.reader.chunk(db, table, after, limit, upTo, key);
      const { schema } = chunk;
      if (schema === undefined) {
        // Dropped: nothing to copy. Renamed: the stream reads the RENAME before this snapshot's
        // last view, and copies the table again online under its new name (committer-io).
        this.deps.log.warn({ table: name, rows }, `snapshot: ${name} no longer exists (dropped or renamed during the snapshot) after ${rows} rows copied: the stream applies what happened to it`);
        // The view that found it so: a RENAME before it is within the snapshot (snapshotUntil), so
        // the stream copies the new name online, however few chunks were read after it.
        this.sawView(chunk.seq);
        return this.tableDone(name);
      }
      if (schema.key.length === 0 && key === undefined) {
        this.deps.log.warn({ table: name }, `snapshot: ${name} has no primary or unique NOT NULL key: not copied (its later changes go to the event log only)`);
        return this.tableDone(name);
      }
      if (keyChanged(schema, key, after, upTo)) {
        const was = key?.join(', ') ?? `${after?.length ?? 0} columns`;
        // Re-created (DROP and CREATE, CREATE OR REPLACE, a RENAME onto its name) or ALTERed after
        // the snapshot's start: the stream replays that DDL, which removes what this copy wrote
        // (older than it) and brings every later row, or, for an ALTER of the key, stops sdl with
        // PRIMARY_KEY_CHANGED. Nothing of the new table needs copying.
        this.sawView(chunk.seq);
        this.deps.log.warn({ table: name, rows, from: was, to: schema.key }, `snapshot: ${name} has another key (${schema.key.join(', ')}) than when its copy began (${was}), after ${rows} rows: it was re-created or altered during the snapshot, and the stream applies what happened to it`);
        return this.tableDone(name);
      }
      key ??= schema.key;
      upTo = chunk.upTo;
      if (chunk.rows.length === 0) break;
      limit = chunkRowsFor(this.deps.chunkRows, this.deps.chunkBytes, averageRowBytes(chunk.rows));
      await this.commit(schema, chunk);
      after = keyOf(schema, chunk.rows[chunk.rows.length - 1] ?? {});
      rows += chunk.rows.length;
      this.progress.rows += chunk.rows.length;
      this.progress.current = { db, table, after, rows, ...(upTo === undefined ? {} : { upTo }), key: [...key] };
      this.sawView(chunk.seq);
      await saveSnapshotProgress(this.deps.db, this.progress);
      this.pace.add(chunk.rows.length);
    }
    // Documents no view of this snapshot wrote are rows gone from the source before it.
    const ns = mirrorNamespace(db, table, this.deps.commit.databaseMap);
    const stale = await this.deps.commit.client.db(ns.db).collection(ns.collection).deleteMany({ '_sdl.pos': { $lt: this.startSeq } });
    if (stale.deletedCount > 0) this.deps.log.warn({ table: name, deleted: stale.deletedCount }, `snapshot: deleted ${stale.deletedCount} mirror documents of ${name} whose rows no longer exist`);
    this.pace.endTable();
    await this.tableDone(name);
  }

  /** The latest view the snapshot acted on (saved with the next progress): its checkpoint's snapshotUntil. */
  private sawView(seq: string): void {
    if (this.progress.lastSeq === undefined || seq > this.progress.lastSeq) this.progress.lastSeq = seq;
  }

  private async tableDone(name: string): Promise<void> {
    this.progress.done.push(name);
    this.progress.current = null;
    await saveSnapshotProgress(this.deps.db, this.progress);
  }

  /** Decoded by the streaming decoder and written by the streaming commit path, as `r` events at the chunk's view. */
  private async commit(schema: TableSchema, chunk: ReadChunk): Promise<void> {
    const ts = Date.now();
    const changes = chunk.rows.map((row, i): RowChange => ({ op: 'insert', schema: 0, before: null, after: row, id: `${i}`, seq: chunk.seq }));
    const decoded = await this.deps.decoder.decode({ transactions: [{ gtid: chunk.view.gtid, ts, schemas: [schema], changes }] });
    const base = `snapshot@${positionKey(this.progress.start)}/${schema.db}.${schema.table}/`;
    // One event per row and snapshot, whichever view copied it: the id names the key, not the view.
    const reads: DecodedChange[] = decoded.map((c) => ({ ...c, op: 'r', id: base + keyIdentity(c.key) }));
    const batch: Batch = { id: reads[0]?.id ?? `${base}empty`, end: undefined, lastTs: ts, changes: reads, ddl: [], rows: reads.length, bytes: 0 };
    await commitBatch({ ...this.deps.commit, stagingEnabled: false }, batch);
  }
}

/**
 * Each table's last key under the first view (open on `conn`), where its copy ends: a row with a
 * larger key was inserted after the view and arrives as a change, so the reads are the rows the
 * first view held, less those deleted before their chunk. A table the view cannot read (created
 * or rebuilt after it: ER_TABLE_DEF_CHANGED) is left out and bounded at its first chunk's view.
 */
async function lastKeysAtView(conn: Connection, tables: readonly { db: string; table: string }[]): Promise<{ table: string; key: RawValue[] | null; columns: string[] }[]> {
  const out: { table: string; key: RawValue[] | null; columns: string[] }[] = [];
  for (const { db, table } of tables) {
    const schema = await currentSchema(conn, db, table);
    if (schema.key.length === 0) continue;
    try {
      out.push({ table: `${db}.${table}`, key: await readLastKey(conn, schema), columns: [...schema.key] });
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      if (errno !== ER_TABLE_DEF_CHANGED && errno !== ER_NO_SUCH_TABLE) throw err;
    }
  }
  return out;
}

/** The source's estimates (InnoDB statistics) of row counts, for progress and ETA, and of row lengths, for chunk sizes. */
async function estimates(conn: Connection, tables: readonly { db: string; table: string }[]): Promise<{ name: string; rows: number; rowBytes: number }[]> {
  const [rows] = await conn.query('SELECT TABLE_SCHEMA AS db, TABLE_NAME AS t, TABLE_ROWS AS n, AVG_ROW_LENGTH AS len FROM information_schema.TABLES');
  const byName = new Map((rows as { db: string; t: string; n: number | string | null; len: number | string | null }[]).map((r) => [`${r.db}.${r.t}`, { rows: Number(r.n ?? 0), rowBytes: Number(r.len ?? 0) }]));
  return tables.map(({ db, table }) => ({ name: `${db}.${table}`, rows: byName.get(`${db}.${table}`)?.rows ?? 0, rowBytes: byName.get(`${db}.${table}`)?.rowBytes ?? 0 }));
}
