import { ddlTables } from '../mongo/ddl-parse.js';
import type { RawRow, RowChange, SchemaChange, SourcePosition, SourceTransaction, TableSchema } from '../pipeline/types.js';
import type { IncludeFilter } from './include-filter.js';
import { permanentStop, SchemaChanges } from './schema-changes.js';
import { type BinlogColumn, tableSchema } from './table-schema.js';

/** The binlog events the assembler understands, as zongji delivers them (structurally typed). */
export type AssemblerEvent =
  | { kind: 'rotate'; file: string; position: number }
  | { kind: 'begin'; gtid: string | undefined; standalone: boolean; nextPosition: number; timestamp: number }
  | { kind: 'tablemap'; tableId: number; db: string; table: string; columns: BinlogColumn[]; primaryKey: number[] | undefined }
  | { kind: 'rows'; op: RowChange['op']; tableId: number; rows: RawRow[] | { before: RawRow; after: RawRow }[]; size: number; timestamp: number }
  | { kind: 'commit'; nextPosition: number; timestamp: number }
  | { kind: 'query'; db: string; statement: string; nextPosition: number; timestamp: number }
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
}

interface OpenTxn {
  gtid: string | undefined;
  standalone: boolean;
  startPos: number;
  ts: number;
  changes: RowChange[];
  schemas: TableSchema[];
  schemaIndex: Map<number, number>;
  bytes: number;
  /** The DDL a transaction carries with its rows (`CREATE TABLE … SELECT`), applied before them. */
  ddl?: SchemaChange;
}

/** Table DDL worth recording; other standalone statements (GRANT, CREATE USER…) only move the position. */
const TABLE_DDL = /^\s*(?:\/\*.*?\*\/\s*)*(CREATE|ALTER|DROP|RENAME|TRUNCATE)\b/is;
/** Objects in memory cost a few times their binlog bytes. */
const MEMORY_FACTOR = 3;

/**
 * Turns the binlog event stream into whole source transactions with their end positions.
 * A transaction is handed on only at its commit marker, so a position is never advanced past
 * rows that were not handed on; excluded tables' transactions are handed on empty so the
 * checkpoint still moves.
 */
export class TransactionAssembler {
  private file: string;
  private fileSeq: number;
  private open: OpenTxn | undefined;
  private readonly tables = new Map<number, { db: string; table: string; columns: BinlogColumn[]; primaryKey: number[] | undefined }>();
  private readonly knownJson: (db: string, table: string) => ReadonlySet<string> | undefined;
  private readonly schemaChanges: SchemaChanges;

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
    switch (e.kind) {
      case 'rotate':
        this.file = e.file;
        this.fileSeq = fileSequence(e.file);
        return;
      case 'begin':
        this.begin(e.gtid, e.standalone, e.nextPosition, e.timestamp);
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
      case 'heartbeat':
        if (this.open === undefined && e.nextPosition > 0) {
          this.out.heartbeat({ file: e.file, pos: e.nextPosition, gtid: this.gtids.current() });
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
    this.open = { gtid, standalone, startPos: pos, ts, changes: [], schemas: [], schemaIndex: new Map(), bytes: 0 };
  }

  private rows(e: Extract<AssemblerEvent, { kind: 'rows' }>): void {
    const txn = this.open ?? this.implicitBegin(e.timestamp);
    const meta = this.tables.get(e.tableId);
    if (meta === undefined) throw new Error(`row event for table id ${e.tableId} without a TableMap at ${this.file}`);
    if (!this.include.includes(meta.db, meta.table)) return;
    let idx = txn.schemaIndex.get(e.tableId);
    if (idx === undefined) {
      this.schemaChanges.tableMapKey(meta.db, meta.table, (meta.primaryKey ?? []).map((i) => meta.columns[i]?.name ?? `#${i}`), this.where(0, txn));
      const json = this.knownJson(meta.db, meta.table) ?? new Set<string>();
      idx = txn.schemas.push(tableSchema(meta.db, meta.table, meta.columns, meta.primaryKey, json)) - 1;
      txn.schemaIndex.set(e.tableId, idx);
    }
    txn.bytes += e.size * MEMORY_FACTOR;
    const idBase = txn.gtid ?? `${this.file}:${txn.startPos}`;
    const seqBase = `${pad(this.fileSeq, 6)}:${pad(txn.startPos, 12)}:`;
    for (const row of e.rows) {
      const n = txn.changes.length;
      const pair = e.op === 'update' ? (row as { before: RawRow; after: RawRow }) : undefined;
      txn.changes.push({
        op: e.op,
        schema: idx,
        before: pair?.before ?? (e.op === 'delete' ? (row) : null),
        after: pair?.after ?? (e.op === 'insert' ? (row) : null),
        id: `${idBase}#${n}`,
        seq: seqBase + pad(n, 8),
      });
    }
  }

  private query(e: Extract<AssemblerEvent, { kind: 'query' }>): void {
    const stmt = e.statement.trim();
    const upper = stmt.slice(0, 9).toUpperCase();
    if (upper === 'BEGIN') {
      this.begin(undefined, false, e.nextPosition, e.timestamp);
      return;
    }
    if (upper.startsWith('COMMIT')) {
      this.commit(e.nextPosition, undefined);
      return;
    }
    if (this.open !== undefined && !this.open.standalone) {
      // SAVEPOINT, XA and the like inside a transaction carry no rows of their own; a DDL there
      // is `CREATE TABLE … SELECT`, whose rows follow in the same group.
      this.ddlInTransaction(this.open, e, stmt);
      return;
    }
    if (this.open === undefined) this.implicitBegin(e.timestamp, e.nextPosition);
    const open = this.open as OpenTxn;
    const ddl = TABLE_DDL.test(stmt) ? this.schemaChanges.judge(stmt, e.db, this.where(e.nextPosition, open)) : undefined;
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
    const ddl = this.schemaChanges.judge(stmt, e.db, this.where(e.nextPosition, txn));
    // A temporary table's DROP (statement-logged sessions) names no table a mirror follows.
    const tables = ddl?.action === undefined ? [] : ddlTables(ddl.action);
    if (ddl === undefined || tables.length === 0) return;
    if (txn.ddl !== undefined || txn.changes.length > 0) {
      const name = tables.map((t) => `${t.db}.${t.table}`).join(', ');
      throw permanentStop('UNSUPPORTED_EVENT', `the transaction at ${this.where(e.nextPosition, txn)} runs \`${stmt.slice(0, 200)}\` after rows or another DDL; sdl applies a DDL only before its transaction's rows`,
        name, 'do not mix DDL on replicated tables into multi-statement transactions');
    }
    txn.ddl = ddl;
  }

  private where(pos: number, txn: OpenTxn | undefined): string {
    const at = `${this.file}:${pos > 0 ? pos : txn?.startPos ?? 0}`;
    return txn?.gtid === undefined ? at : `${at} (GTID ${txn.gtid})`;
  }

  private implicitBegin(ts: number, pos = 0): OpenTxn {
    this.begin(undefined, true, pos, ts);
    return this.open as OpenTxn;
  }

  private commit(pos: number, ddl: SchemaChange | undefined): void {
    const txn = this.open;
    if (txn === undefined) return;
    this.open = undefined;
    ddl ??= txn.ddl;
    const gtid = txn.gtid === undefined ? this.gtids.current() : this.gtids.commit(txn.gtid);
    const end: SourcePosition = { file: this.file, pos };
    if (gtid !== undefined) end.gtid = gtid;
    const lookups = new Set<string>();
    for (const s of txn.schemas) {
      if (this.knownJson(s.db, s.table) === undefined) lookups.add(`${s.db}.${s.table}`);
    }
    const out: SourceTransaction = { gtid: txn.gtid, ts: txn.ts, end, schemas: txn.schemas, changes: txn.changes, bytes: txn.bytes + 256 };
    if (ddl !== undefined) out.ddl = ddl;
    this.out.transaction(out, lookups);
  }
}

function fileSequence(file: string): number {
  const m = /\.(\d+)$/.exec(file);
  return m === null ? 0 : Number(m[1]);
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
