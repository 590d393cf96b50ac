import { SdlError } from '../errors.js';
import { ddlTables, parseDdl, type DdlAction } from '../mongo/ddl-parse.js';
import type { RawRow, RowChange, SchemaChange, SourcePosition, SourceTransaction, TableSchema } from '../pipeline/types.js';
import type { IncludeFilter } from './include-filter.js';
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
  /** Key column names per included table as its last TableMap said: a change means the mirror's `_id`s are stale. */
  private readonly keys = new Map<string, string[]>();

  constructor(
    start: SourcePosition | undefined,
    private readonly include: IncludeFilter,
    private readonly gtids: GtidTracker,
    private readonly out: AssemblerOutput,
    knownJson: (db: string, table: string) => ReadonlySet<string> | undefined,
    private readonly opts: AssemblerOptions = {},
  ) {
    this.file = start?.file ?? '';
    this.fileSeq = fileSequence(this.file);
    this.knownJson = knownJson;
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
      this.checkKey(meta.db, meta.table, (meta.primaryKey ?? []).map((i) => meta.columns[i]?.name ?? `#${i}`), txn);
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
    const ddl = this.schemaChange(e, stmt, open);
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
    const ddl = this.schemaChange(e, stmt, txn);
    // A temporary table's DROP (statement-logged sessions) names no table a mirror follows.
    if (ddl?.action === undefined || ddlTables(ddl.action).length === 0) return;
    if (txn.ddl !== undefined || txn.changes.length > 0) {
      throw this.stop('UNSUPPORTED_EVENT', `a transaction at ${this.where(e.nextPosition, txn)} holds rows and more than one DDL statement (\`${stmt.slice(0, 200)}\`); sdl applies a DDL only before its transaction's rows`,
        ddl.db, 'do not mix DDL into multi-statement transactions on replicated tables');
    }
    txn.ddl = ddl;
  }

  /**
   * The schema_history record of a DDL on an included table (judged by the tables the
   * statement names, not the session's default database), or undefined for statements that
   * concern no included table. Stops on a key change the mirrors cannot follow.
   */
  private schemaChange(e: Extract<AssemblerEvent, { kind: 'query' }>, stmt: string, txn: OpenTxn): SchemaChange | undefined {
    if (!TABLE_DDL.test(stmt)) return undefined;
    const action = parseDdl(stmt, e.db, { lowerCaseNames: this.opts.lowerCaseNames === true });
    const tables = ddlTables(action);
    let included: boolean;
    if (action.kind === 'drop-database') included = this.include.includesDb(action.db);
    else if (tables.length > 0) included = tables.some((t) => this.include.includes(t.db, t.table));
    else included = this.include.includesDb(qualifiedDb(stmt) ?? e.db);
    this.forgetKeys(action);
    if (!included) return undefined;
    if (action.kind === 'alter') this.matchColumnCase(action);
    if (action.kind === 'alter') {
      const known = this.keys.get(tableKey(action.table.db, action.table.table));
      const touched = [...action.modifyColumns, ...action.dropColumns, ...action.renameColumns.map((r) => r.from)];
      const keyColumn = known?.find((k) => touched.some((c) => c.toLowerCase() === k.toLowerCase()));
      if (action.primaryKey || keyColumn !== undefined) {
        const name = `${action.table.db}.${action.table.table}`;
        throw this.stop('PRIMARY_KEY_CHANGED',
          `\`${stmt.slice(0, 200)}\` at ${this.where(e.nextPosition, txn)} changes ${keyColumn === undefined ? 'the primary key' : `key column ${name}.${keyColumn}`} of ${name}: its mirror is keyed by the old key`,
          name, 'change keys of replicated tables only with sdl stopped and a re-snapshot planned');
      }
    }
    return { db: e.db, statement: stmt, action };
  }

  /**
   * Column names are case-insensitive in DDL text but mirror fields carry the case of the
   * table's definition: spell dropped and renamed columns as the table's last TableMap does.
   */
  private matchColumnCase(action: Extract<DdlAction, { kind: 'alter' }>): void {
    let columns: BinlogColumn[] | undefined;
    for (const t of this.tables.values()) if (t.db === action.table.db && t.table === action.table.table) columns = t.columns;
    if (columns === undefined) return;
    const spell = (name: string): string => columns?.find((c) => c.name.toLowerCase() === name.toLowerCase())?.name ?? name;
    action.dropColumns = action.dropColumns.map(spell);
    action.renameColumns = action.renameColumns.map((r) => ({ from: spell(r.from), to: r.to }));
    action.modifyColumns = action.modifyColumns.map(spell);
  }

  /** A table dropped, replaced or renamed starts a new key history (its mirror went with it). */
  private forgetKeys(action: DdlAction): void {
    if (action.kind === 'drop-database') {
      for (const k of [...this.keys.keys()]) if (k.startsWith(`${action.db}.`)) this.keys.delete(k);
    } else if (action.kind !== 'alter') {
      for (const t of ddlTables(action)) this.keys.delete(tableKey(t.db, t.table));
    }
  }

  private checkKey(db: string, table: string, key: string[], txn: OpenTxn): void {
    const name = tableKey(db, table);
    const known = this.keys.get(name);
    this.keys.set(name, key);
    if (known === undefined || known.join('\u0000') === key.join('\u0000')) return;
    throw this.stop('PRIMARY_KEY_CHANGED',
      `the key of ${name} changed from (${known.join(', ')}) to (${key.join(', ')}) before the transaction at ${this.where(0, txn)}: its mirror is keyed by the old key`,
      name, 'change keys of replicated tables only with sdl stopped and a re-snapshot planned');
  }

  private where(pos: number, txn: OpenTxn | undefined): string {
    const at = `${this.file}:${pos > 0 ? pos : txn?.startPos ?? 0}`;
    return txn?.gtid === undefined ? at : `${at} (GTID ${txn.gtid})`;
  }

  private stop(code: string, what: string, table: string, prevent: string): SdlError {
    return new SdlError(code, what, 'permanent',
      `re-snapshot the table \`${table}\` (\`sdl snapshot --tables ${table}\`, once snapshots exist), then restart; to prevent it, ${prevent}`);
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

function tableKey(db: string, table: string): string {
  return `${db}.${table}`;
}

function qualifiedDb(stmt: string): string | undefined {
  const m = /\b(?:TABLE|DATABASE|SCHEMA)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?`?([^`.\s]+)`?\./i.exec(stmt);
  return m?.[1];
}

function fileSequence(file: string): number {
  const m = /\.(\d+)$/.exec(file);
  return m === null ? 0 : Number(m[1]);
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
