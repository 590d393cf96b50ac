import { resnapshotHint } from './resnapshot-hint.js';
import { SdlError } from '../errors.js';
import type { RawRow, RowChange, SchemaChange, SourcePosition, SourceTransaction, TableSchema } from '../pipeline/types.js';
import { ddlTables } from '../mongo/ddl-parse.js';
import { rowChangeBytes } from '../pipeline/held-bytes.js';
import { changeSeq } from '../pipeline/sequence.js';
import type { IncludeFilter } from './include-filter.js';
import { permanentStop, SchemaChanges } from './schema-changes.js';
import { type BinlogColumn, tableSchema } from './table-schema.js';
import { classifyStatement, type TableRef } from './txn-statements.js';

/** The binlog events the assembler understands, as zongji delivers them (structurally typed). */
export type AssemblerEvent =
  | { kind: 'rotate'; file: string; position: number }
  | { kind: 'begin'; gtid: string | undefined; standalone: boolean; nextPosition: number; timestamp: number; /** MariaDB: the GTID event flags an XA branch (FL_PREPARED_XA). */ xa?: boolean }
  | { kind: 'tablemap'; tableId: number; db: string; table: string; columns: BinlogColumn[]; primaryKey: number[] | undefined }
  | {
    kind: 'rows'; op: RowChange['op']; tableId: number; rows: RawRow[] | { before: RawRow; after: RawRow }[]; size: number; timestamp: number;
    /** Column ordinals missing from the row images (session binlog_row_image MINIMAL/NOBLOB); empty for full images. */
    absent: number[]; nextPosition: number;
  }
  | { kind: 'commit'; nextPosition: number; timestamp: number }
  | { kind: 'query'; db: string; statement: string; nextPosition: number; timestamp: number }
  /** XA_PREPARE_LOG_EVENT: ends the group of an XA branch; onePhase means it committed right there. */
  | { kind: 'xaprepare'; xid: string; onePhase: boolean; nextPosition: number; timestamp: number }
  /** An event zongji cannot identify (Begin/Execute_load_query, USER_VAR, RAND, Incident, Stop…). */
  | { kind: 'unknown'; size: number; nextPosition: number }
  | { kind: 'heartbeat'; file: string; nextPosition: number }
  /** MySQL: the GTID set executed before this binlog file (the first event after its Format event). */
  | { kind: 'previous-gtids'; gtids: string };

export interface AssemblerOutput {
  transaction(txn: SourceTransaction, tablesNeedingLookup: ReadonlySet<string>): void;
  /** Server is idle at this position, with no transaction open. */
  heartbeat(pos: SourcePosition): void;
}

/** Tells whether the server's binlog uses MariaDB GTID positions or MySQL GTID sets. */
export interface GtidTracker {
  /** Records a committed transaction; returns the position string to resume after it. */
  commit(gtid: string): string;
  current(): string | undefined;
  /**
   * Starts an empty set from what the server executed before the first binlog read, so a
   * checkpoint taken on a first start covers purged history too (MySQL; no-op once non-empty).
   */
  seed(executedBefore: string): void;
}

export interface AssemblerOptions {
  /** The source runs with lower_case_table_names=1: DDL text may name tables in any case. */
  lowerCaseNames?: boolean;
  /** Epoch and identity of the server streamed from (see SourcePosition); default: the start's. */
  identity?: { epoch: number; source: string };
  /**
   * Held bytes (rowChangeBytes) past which an open transaction's rows are handed on as an open
   * slice instead of being held until its commit; undefined holds every transaction whole.
   */
  sliceBytes?: number;
}

interface OpenTxn {
  gtid: string | undefined;
  standalone: boolean;
  startPos: number;
  ts: number;
  /** Row changes not handed on yet; the first has ordinal `handed`. */
  changes: RowChange[];
  /** Row changes already handed on in open slices. */
  handed: number;
  /** Tables whose JSON columns were asked for with a slice already. */
  asked: Set<string>;
  /** An XA branch: its rows are decided by an XA COMMIT in a later group, so they are never sliced. */
  xa: boolean;
  schemas: TableSchema[];
  schemaIndex: Map<number, number>;
  /** Tables (`db.table`) whose JSON columns were unknown when their schema was built: asked of the server before the transaction leaves. */
  jsonUnknown: Set<string>;
  /** Held bytes of `changes`. */
  bytes: number;
  /** Ordinal of the next row change at each SAVEPOINT, so a logged ROLLBACK TO can drop the rows after it. */
  savepoints: Map<string, number>;
  /** Start of a run of unidentifiable events the next event may show to belong to a statement. */
  unknownRun: number | undefined;
  /** Position of an unidentifiable event no statement-format DML explained. */
  unexplained: number | undefined;
  /** The DDL a transaction carries with its rows (`CREATE TABLE … SELECT`), applied before them. */
  ddl?: SchemaChange;
}

/** An XA branch prepared but not yet committed or rolled back; `heldAt` is where its group began. */
interface PreparedXa {
  txn: OpenTxn;
  heldAt: SourcePosition;
}

/** Table DDL worth recording; other standalone statements (GRANT, CREATE USER…) only move the position. */
const TABLE_DDL = /^\s*(?:\/\*.*?\*\/\s*)*(CREATE|ALTER|DROP|RENAME|TRUNCATE)\b/is;

/**
 * Turns the binlog event stream into whole source transactions with their end positions.
 * A transaction is handed on only at its commit marker, so a position is never advanced past
 * rows that were not handed on; excluded tables' transactions are handed on empty so the
 * checkpoint still moves. A group whose rows cannot be applied exactly stops the pipeline
 * (SdlError, permanent) instead of being dropped.
 */
export class TransactionAssembler {
  private file: string;
  private fileSeq: number;
  private open: OpenTxn | undefined;
  private readonly tables = new Map<number, { db: string; table: string; columns: BinlogColumn[]; primaryKey: number[] | undefined }>();
  private readonly knownJson: (db: string, table: string) => ReadonlySet<string> | undefined;
  /** The last position handed on (or the start): where a group that begins now starts. */
  private lastEnd: SourcePosition | undefined;
  /** Prepared XA branches by xid, oldest first (Map keeps insertion order). */
  private readonly prepared = new Map<string, PreparedXa>();
  private readonly schemaChanges: SchemaChanges;
  /** Source history this stream belongs to (see SourcePosition.epoch), fixed for the stream. */
  private readonly epoch: number;
  private readonly source: string | undefined;
  private readonly sliceBytes: number | undefined;

  constructor(
    start: SourcePosition | undefined,
    private readonly include: IncludeFilter,
    private readonly gtids: GtidTracker,
    private readonly out: AssemblerOutput,
    knownJson: (db: string, table: string) => ReadonlySet<string> | undefined,
    opts: AssemblerOptions = {},
  ) {
    this.file = start?.file ?? '';
    this.fileSeq = fileSequence(this.file);
    this.knownJson = knownJson;
    this.lastEnd = start;
    this.epoch = opts.identity?.epoch ?? start?.epoch ?? 0;
    this.source = opts.identity?.source ?? start?.source;
    this.sliceBytes = opts.sliceBytes;
    this.schemaChanges = new SchemaChanges(include, opts.lowerCaseNames === true, (db, table) => {
      let columns: BinlogColumn[] | undefined;
      for (const t of this.tables.values()) if (t.db === db && t.table === table) columns = t.columns;
      return columns;
    });
  }

  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  push(e: AssemblerEvent): void {
    this.settleUnknownRun(e);
    switch (e.kind) {
      case 'rotate':
        this.file = e.file;
        this.fileSeq = fileSequence(e.file);
        return;
      case 'begin':
        this.begin(e.gtid, e.standalone, e.nextPosition, e.timestamp);
        if (e.xa === true && this.open !== undefined) this.open.xa = true;
        return;
      case 'tablemap':
        this.tables.set(e.tableId, { db: e.db, table: e.table, columns: e.columns, primaryKey: e.primaryKey });
        return;
      case 'rows':
        this.rows(e);
        return;
      case 'commit':
        this.commit(e.nextPosition, undefined);
        return;
      case 'query':
        this.query(e);
        return;
      case 'xaprepare':
        this.xaPrepare(e);
        return;
      case 'unknown':
        this.unknown(e);
        return;
      case 'heartbeat':
        // While an XA branch is undecided the checkpoint stays before its PREPARE (see xaPrepare).
        if (this.open === undefined && this.prepared.size === 0 && e.nextPosition > 0) {
          const pos: SourcePosition = { ...this.identityOf(), file: e.file, pos: e.nextPosition, gtid: this.gtids.current() };
          this.lastEnd = pos;
          this.out.heartbeat(pos);
        }
        return;
      case 'previous-gtids':
        this.gtids.seed(e.gtids);
        return;
    }
  }

  private begin(gtid: string | undefined, standalone: boolean, pos: number, ts: number): void {
    // A BEGIN after a GTID event belongs to the transaction the GTID opened. MySQL's GTID event
    // cannot say whether a BEGIN follows, so it opens a standalone group until the BEGIN comes.
    if (this.open !== undefined && gtid === undefined) {
      this.open.standalone = false;
      return;
    }
    if (this.open !== undefined && rowCount(this.open) > 0) {
      // Every group shape sdl knows ends with a marker; dropping its rows here would be silent loss.
      const where = this.where(pos, this.open.gtid);
      throw new SdlError('UNSUPPORTED_EVENT', `a transaction with ${rowCount(this.open)} row changes on ${this.tableList(this.open)} ended without COMMIT, ROLLBACK or XA PREPARE at ${where}`, 'permanent',
        this.hint(this.open, 'report the binlog event sequence at that position (mariadb-binlog -vv) so sdl can learn the shape'));
    }
    this.open = { gtid, standalone, startPos: pos, ts, changes: [], handed: 0, asked: new Set(), xa: false, schemas: [], schemaIndex: new Map(), jsonUnknown: new Set(), bytes: 0, savepoints: new Map(), unknownRun: undefined, unexplained: undefined };
  }

  private rows(e: Extract<AssemblerEvent, { kind: 'rows' }>): void {
    const txn = this.open ?? this.implicitBegin(e.timestamp);
    const meta = this.tables.get(e.tableId);
    if (meta === undefined) throw new Error(`row event for table id ${e.tableId} without a TableMap at ${this.file}`);
    if (!this.include.includes(meta.db, meta.table)) return;
    if (e.absent.length > 0) {
      const cols = e.absent.map((i) => meta.columns[i]?.name ?? `#${i}`).join(', ');
      const ref = `${meta.db}.${meta.table}`;
      throw new SdlError('PARTIAL_ROW_IMAGE', `a ${e.op} on ${ref} at ${this.where(e.nextPosition, txn.gtid)} was logged without columns ${cols} (session binlog_row_image MINIMAL or NOBLOB); sdl would write them as null`, 'permanent',
        `${resnapshotHint([ref])}; prevent it by keeping binlog_row_image=FULL in every session that writes ${ref} (SET GLOBAL binlog_row_image=FULL and no SET SESSION binlog_row_image)`);
    }
    let idx = txn.schemaIndex.get(e.tableId);
    if (idx === undefined) {
      this.schemaChanges.tableMapKey(meta.db, meta.table, (meta.primaryKey ?? []).map((i) => meta.columns[i]?.name ?? `#${i}`), this.where(txn.startPos, txn.gtid));
      // What is known now is what holds at this row: no DDL can come between it and the commit.
      const json = this.knownJson(meta.db, meta.table);
      if (json === undefined) txn.jsonUnknown.add(`${meta.db}.${meta.table}`);
      idx = txn.schemas.push(tableSchema(meta.db, meta.table, meta.columns, meta.primaryKey, json ?? new Set<string>())) - 1;
      txn.schemaIndex.set(e.tableId, idx);
    }
    for (const row of e.rows) {
      const n = rowCount(txn);
      const pair = e.op === 'update' ? (row as { before: RawRow; after: RawRow }) : undefined;
      const change: RowChange = {
        op: e.op,
        schema: idx,
        before: pair?.before ?? (e.op === 'delete' ? (row) : null),
        after: pair?.after ?? (e.op === 'insert' ? (row) : null),
        ...this.identity(txn, n),
      };
      // What it really holds on the heap, so the batcher's budget pauses the reader in time.
      txn.bytes += rowChangeBytes(change);
      txn.changes.push(change);
    }
    if (this.sliceBytes !== undefined && txn.bytes >= this.sliceBytes) this.slice(txn);
  }

  /**
   * Hands on the held rows of a still-open transaction as an open slice, so one transaction
   * never holds more than about sliceBytes here. Never past a live SAVEPOINT (a logged ROLLBACK
   * TO drops the rows after it), never an XA branch or a group carrying DDL or an event sdl
   * could not read yet. Slices depend only on the events, so a re-read makes the same ones.
   */
  private slice(txn: OpenTxn): void {
    if (txn.standalone || txn.xa || txn.ddl !== undefined || txn.unknownRun !== undefined || txn.unexplained !== undefined) return;
    let upTo = txn.handed + txn.changes.length;
    for (const at of txn.savepoints.values()) upTo = Math.min(upTo, at);
    const count = upTo - txn.handed;
    if (count <= 0) return;
    const changes = txn.changes.slice(0, count);
    let bytes = txn.bytes;
    if (count < txn.changes.length) {
      bytes = 0;
      for (const c of changes) bytes += rowChangeBytes(c);
    }
    txn.changes = txn.changes.slice(count);
    txn.bytes -= bytes;
    txn.handed += count;
    const group = this.groupOf(txn);
    // Nothing moves past the group's start until it commits: a resume there reads it again.
    const start = this.lastEnd ?? { ...this.identityOf(), file: this.file, pos: 4 };
    this.out.transaction({ gtid: txn.gtid, ts: txn.ts, end: start, schemas: txn.schemas, changes, bytes: bytes + 256, slice: { group, open: true } }, this.lookupsOf(txn));
  }

  /** The JSON-column lookups not yet asked with an earlier slice of this group. */
  private lookupsOf(txn: OpenTxn): ReadonlySet<string> {
    const ask = new Set<string>();
    for (const t of txn.jsonUnknown) if (!txn.asked.has(t)) ask.add(t);
    for (const t of ask) txn.asked.add(t);
    return ask;
  }

  private groupOf(txn: OpenTxn): string {
    return txn.gtid ?? `${this.file}:${txn.startPos}`;
  }

  /** Deterministic id and seq of the n-th row change of a group: the same on every re-read. */
  private identity(txn: OpenTxn, n: number): { id: string; seq: string } {
    const idBase = this.groupOf(txn);
    return { id: `${idBase}#${n}`, seq: changeSeq(this.epoch, this.fileSeq, txn.startPos, n) };
  }

  private query(e: Extract<AssemblerEvent, { kind: 'query' }>): void {
    const stmt = e.statement.trim();
    const upper = stmt.slice(0, 9).toUpperCase();
    if (upper === 'BEGIN') {
      this.begin(undefined, false, e.nextPosition, e.timestamp);
      return;
    }
    if (this.groupStatement(e)) return;
    if (this.open !== undefined && !this.open.standalone) {
      // What is left inside a group is DDL (`CREATE TABLE … SELECT`, whose rows follow in the
      // same group; a temporary table's) or a non-table statement (GRANT…) that carries no rows.
      this.ddlInTransaction(this.open, e, stmt);
      return;
    }
    if (this.open === undefined) this.implicitBegin(e.timestamp, e.nextPosition);
    const open = this.open as OpenTxn;
    const ddl = TABLE_DDL.test(stmt) ? this.schemaChanges.judge(stmt, e.db, this.where(e.nextPosition, open.gtid)) : undefined;
    // MySQL 8 logs `CREATE TABLE … SELECT` as GTID, this DDL, then the rows and an Xid.
    if (TABLE_DDL.test(stmt) && /\bSTART\s+TRANSACTION\s*;?\s*$/i.test(stmt)) {
      open.standalone = false;
      if (ddl !== undefined) open.ddl = ddl;
      return;
    }
    this.commit(e.nextPosition, ddl);
  }

  private ddlInTransaction(txn: OpenTxn, e: Extract<AssemblerEvent, { kind: 'query' }>, stmt: string): void {
    if (!TABLE_DDL.test(stmt)) return;
    const ddl = this.schemaChanges.judge(stmt, e.db, this.where(e.nextPosition, txn.gtid));
    // A temporary table's DROP (statement-logged sessions) names no table a mirror follows.
    const tables = ddl?.action === undefined ? [] : ddlTables(ddl.action);
    if (ddl === undefined || tables.length === 0) return;
    if (txn.ddl !== undefined || rowCount(txn) > 0) {
      const name = tables.map((t) => `${t.db}.${t.table}`).join(', ');
      throw permanentStop('UNSUPPORTED_EVENT', `the transaction at ${this.where(e.nextPosition, txn.gtid)} runs \`${stmt.slice(0, 200)}\` after rows or another DDL; sdl applies a DDL only before its transaction's rows`,
        name, 'do not mix DDL on replicated tables into multi-statement transactions');
    }
    txn.ddl = ddl;
  }

  /**
   * Query events that end, mark or carry rows of a group; true when handled. Statements that
   * carry no row change: SAVEPOINT/RELEASE (bookkeeping only), XA START/END (the branch's rows
   * are row events of the same group).
   */
  private groupStatement(e: Extract<AssemblerEvent, { kind: 'query' }>): boolean {
    const st = classifyStatement(e.statement, e.db);
    const txn = this.open;
    // A standalone group is one statement (DDL, or an XA COMMIT/ROLLBACK, which MariaDB logs
    // with or without the standalone flag); only a decision or DML there is ours to read.
    if (txn?.standalone === true && st.kind !== 'xa-commit' && st.kind !== 'xa-rollback' && st.kind !== 'dml') return false;
    switch (st.kind) {
      case 'commit':
        this.commit(e.nextPosition, undefined);
        return true;
      case 'rollback':
        this.rollback(e.nextPosition);
        return true;
      case 'savepoint':
        if (txn !== undefined) txn.savepoints.set(st.name.toLowerCase(), rowCount(txn));
        return true;
      case 'release':
        txn?.savepoints.delete(st.name.toLowerCase());
        return true;
      case 'rollback-to': {
        // Logged only when the group also wrote a non-transactional table; the rows after the
        // savepoint are in the log but were undone (measured on MariaDB 10.11).
        if (txn === undefined) return true;
        const keep = txn.savepoints.get(st.name.toLowerCase());
        if (keep === undefined) {
          throw new SdlError('UNSUPPORTED_EVENT', `ROLLBACK TO ${st.name} at ${this.where(e.nextPosition, txn.gtid)} names a savepoint this transaction did not log`, 'permanent',
            this.hint(txn, 'report the binlog event sequence at that position'));
        }
        // Rows after a live savepoint are never sliced (see slice), so they are all still here.
        txn.changes.length = keep - txn.handed;
        txn.bytes = 0;
        for (const c of txn.changes) txn.bytes += rowChangeBytes(c);
        for (const [name, at] of txn.savepoints) if (at > keep) txn.savepoints.delete(name);
        return true;
      }
      case 'xa-marker':
        (txn ?? this.implicitBegin(e.timestamp, e.nextPosition)).xa = true;
        return true;
      case 'xa-commit':
      case 'xa-rollback':
        this.xaDecide(st.kind === 'xa-commit', st.xid, e);
        return true;
      case 'dml':
        this.statementDml(st.targets, e);
        return true;
      case 'other':
        return false;
    }
  }

  /**
   * A DML statement logged as text (session binlog_format STATEMENT or MIXED): its rows are not
   * in the binlog, so an included (or unknown) target stops the pipeline.
   */
  private statementDml(targets: TableRef[] | undefined, e: Extract<AssemblerEvent, { kind: 'query' }>): void {
    const hit = targets?.filter((t) => this.include.includes(t.db, t.table));
    if (hit === undefined || hit.length > 0) {
      const what = hit === undefined ? 'a table sdl cannot determine' : hit.map((t) => `${t.db}.${t.table}`).join(', ');
      const text = e.statement.length > 200 ? `${e.statement.slice(0, 200)}…` : e.statement;
      throw new SdlError('STATEMENT_FORMAT_DML', `DML on ${what} was logged as a statement, not as rows, at ${this.where(e.nextPosition, this.open?.gtid)}: ${text}`, 'permanent',
        `${resnapshotHint(hit?.map((t) => `${t.db}.${t.table}`) ?? [])}; prevent it with binlog_format=ROW for every session (SET GLOBAL binlog_format=ROW; no SET SESSION binlog_format=STATEMENT/MIXED)`);
    }
    if (this.open === undefined) {
      this.implicitBegin(e.timestamp, e.nextPosition);
      this.commit(e.nextPosition, undefined);
    }
  }

  private unknown(e: Extract<AssemblerEvent, { kind: 'unknown' }>): void {
    if (this.open !== undefined) {
      // Begin/Execute_load_query (LOAD DATA), USER_VAR and RAND only come with statement-format
      // DML; settleUnknownRun decides once the next event shows whether a statement follows.
      this.open.unknownRun ??= e.nextPosition;
      return;
    }
    // Between groups: a Stop event (empty) at a server shutdown carries nothing. Anything else
    // (an Incident event reports changes missing from the binlog) cannot be shown to be harmless.
    if (e.size > 0) {
      throw new SdlError('UNSUPPORTED_EVENT', `the source logged an event sdl cannot identify (${e.size} bytes) between transactions at ${this.where(e.nextPosition, undefined)}`, 'permanent',
        `read it with mariadb-binlog --start-position on ${this.file}; if it is an Incident (LOST_EVENTS) event the source lost changes: ${resnapshotHint([])}`);
    }
  }

  /**
   * The end of an XA branch's group. The branch's rows are applied at its XA COMMIT, which
   * may come much later and from another connection. Choice: hold the checkpoint at the start
   * of the oldest undecided PREPARE rather than persist prepared rows, so a restart re-reads
   * them from the binlog; transactions after it are applied as they come and re-applied on a
   * restart, which the mirror position guard and the deterministic event ids make idempotent.
   * The cost: a branch left prepared for long pins binlog retention.
   */
  private xaPrepare(e: Extract<AssemblerEvent, { kind: 'xaprepare' }>): void {
    if (e.onePhase) {
      this.commit(e.nextPosition, undefined);
      return;
    }
    const txn = this.open;
    if (txn === undefined) return;
    if (txn.handed > 0) {
      // Its sliced rows are staged under this group, which never commits: the XA COMMIT's group does.
      throw new SdlError('UNSUPPORTED_EVENT', `the XA branch prepared at ${this.where(e.nextPosition, txn.gtid)} was streamed in slices before sdl knew it was an XA branch; its rows would be lost`, 'permanent',
        this.hint(txn, 'report the binlog event sequence at that position (mariadb-binlog -vv)'));
    }
    this.open = undefined;
    this.checkExplained(txn, e.nextPosition);
    if (txn.gtid !== undefined) this.gtids.commit(txn.gtid);
    // lastEnd does not move while a branch is held, so it is where the oldest PREPARE began.
    // No checkpoint yet: the start of the file holding the PREPARE re-reads it.
    const heldAt = this.lastEnd ?? { file: this.file, pos: 4 };
    this.prepared.set(e.xid, { txn, heldAt });
  }

  private xaDecide(commit: boolean, xid: string, e: Extract<AssemblerEvent, { kind: 'query' }>): void {
    const txn = this.open ?? this.implicitBegin(e.timestamp, e.nextPosition);
    const branch = this.prepared.get(xid);
    if (branch === undefined) {
      throw new SdlError('UNSUPPORTED_EVENT', `XA ${commit ? 'COMMIT' : 'ROLLBACK'} ${xid} at ${this.where(e.nextPosition, txn.gtid)} decides a branch whose XA PREPARE sdl did not read (prepared before the position sdl started from)`, 'permanent',
        `${resnapshotHint([])}; prevent it by not starting or restoring sdl from a position inside an undecided XA transaction`);
    }
    this.prepared.delete(xid);
    if (commit) {
      // The rows take this group's GTID and position: they happened at the commit.
      txn.schemas = branch.txn.schemas;
      txn.changes = branch.txn.changes.map((c, n) => ({ ...c, ...this.identity(txn, n) }));
      txn.bytes += branch.txn.bytes;
    }
    this.commit(e.nextPosition, undefined);
  }

  /**
   * A group ended by a ROLLBACK query. MariaDB logs one when a rolled-back transaction had
   * touched a non-transactional table; its row events may be undone InnoDB rows or kept
   * MyISAM/Aria rows, and the binlog does not say which, so rows on an included table stop.
   */
  private rollback(pos: number): void {
    const txn = this.open;
    if (txn === undefined) return;
    if (rowCount(txn) > 0) {
      // Slices of it already handed on are staged open and never applied: a restart deletes them.
      throw new SdlError('UNSUPPORTED_EVENT', `a rolled-back transaction at ${this.where(pos, txn.gtid)} logged ${rowCount(txn)} row changes on ${this.tableList(txn)}; the binlog does not say which of them a non-transactional table kept`, 'permanent',
        this.hint(txn, 'prevent it by not mixing non-transactional (MyISAM/Aria) writes, triggers included, into transactions that may roll back, or convert those tables to InnoDB'));
    }
    this.checkExplained(txn, pos);
    this.commit(pos, undefined);
  }

  /**
   * USER_VAR and RAND events come right before the statement-format DML they serve, which then
   * judges its own target. A run of unidentifiable events followed by anything else (LOAD DATA's
   * Begin/Execute_load_query are followed by the commit) stays unexplained and stops the group.
   * A LOAD DATA immediately followed by a DML on an excluded table in the same transaction
   * still passes: zongji does not say which event type it could not identify.
   */
  private settleUnknownRun(e: AssemblerEvent): void {
    const txn = this.open;
    if (txn?.unknownRun === undefined || e.kind === 'unknown') return;
    if (e.kind !== 'query' || classifyStatement(e.statement, e.db).kind !== 'dml') txn.unexplained ??= txn.unknownRun;
    txn.unknownRun = undefined;
  }

  private checkExplained(txn: OpenTxn, pos: number): void {
    if (txn.unexplained === undefined) return;
    throw new SdlError('STATEMENT_FORMAT_DML', `the transaction at ${this.where(pos, txn.gtid)} holds an event sdl cannot read at ${this.file}:${txn.unexplained} (LOAD DATA logged as a statement, or statement-format DML), whose target table is not in the binlog text`, 'permanent',
      `${resnapshotHint([])}; prevent it with binlog_format=ROW for every session`);
  }

  private heldPosition(): SourcePosition | undefined {
    for (const b of this.prepared.values()) return b.heldAt;
    return undefined;
  }

  private implicitBegin(ts: number, pos = 0): OpenTxn {
    this.begin(undefined, true, pos, ts);
    return this.open as OpenTxn;
  }

  private commit(pos: number, ddl: SchemaChange | undefined): void {
    const txn = this.open;
    if (txn === undefined) return;
    this.checkExplained(txn, pos);
    this.open = undefined;
    ddl ??= txn.ddl;
    const gtid = txn.gtid === undefined ? this.gtids.current() : this.gtids.commit(txn.gtid);
    let end: SourcePosition = { ...this.identityOf(), file: this.file, pos };
    if (gtid !== undefined) end.gtid = gtid;
    const held = this.heldPosition();
    if (held === undefined) this.lastEnd = end;
    else end = held;
    // Decided when each schema was built, not now: an answer for an earlier transaction may have
    // arrived since, and this transaction's schema was built without it.
    const sliced = txn.handed > 0;
    const lookups = sliced ? this.lookupsOf(txn) : txn.jsonUnknown;
    const out: SourceTransaction = { gtid: txn.gtid, ts: txn.ts, end, schemas: txn.schemas, changes: txn.changes, bytes: txn.bytes + 256 };
    if (ddl !== undefined) out.ddl = ddl;
    if (sliced) out.slice = { group: this.groupOf(txn), open: false };
    this.out.transaction(out, lookups);
  }

  /** The epoch and source identity every position this stream hands on carries. */
  private identityOf(): Pick<SourcePosition, 'epoch' | 'source'> {
    return { ...(this.epoch > 0 ? { epoch: this.epoch } : {}), ...(this.source !== undefined ? { source: this.source } : {}) };
  }

  private where(pos: number, gtid: string | undefined): string {
    return `${this.file}:${pos}${gtid === undefined ? '' : ` (GTID ${gtid})`}`;
  }

  private tableList(txn: OpenTxn): string {
    return txn.schemas.map((s) => `${s.db}.${s.table}`).join(', ');
  }

  private hint(txn: OpenTxn, prevent: string): string {
    return `${resnapshotHint(txn.schemas.map((s) => `${s.db}.${s.table}`))}; ${prevent}`;
  }
}


/** Row changes of a group so far, handed on in slices or held. */
function rowCount(txn: OpenTxn): number {
  return txn.handed + txn.changes.length;
}

function fileSequence(file: string): number {
  const m = /\.(\d+)$/.exec(file);
  return m === null ? 0 : Number(m[1]);
}
