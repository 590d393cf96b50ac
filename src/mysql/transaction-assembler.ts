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
  | { kind: 'heartbeat'; file: string; nextPosition: number };

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

  constructor(
    start: SourcePosition | undefined,
    private readonly include: IncludeFilter,
    private readonly gtids: GtidTracker,
    private readonly out: AssemblerOutput,
    knownJson: (db: string, table: string) => ReadonlySet<string> | undefined,
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
    }
  }

  private begin(gtid: string | undefined, standalone: boolean, pos: number, ts: number): void {
    // A BEGIN after a GTID event belongs to the transaction the GTID opened.
    if (this.open !== undefined && gtid === undefined) return;
    this.open = { gtid, standalone, startPos: pos, ts, changes: [], schemas: [], schemaIndex: new Map(), bytes: 0 };
  }

  private rows(e: Extract<AssemblerEvent, { kind: 'rows' }>): void {
    const txn = this.open ?? this.implicitBegin(e.timestamp);
    const meta = this.tables.get(e.tableId);
    if (meta === undefined) throw new Error(`row event for table id ${e.tableId} without a TableMap at ${this.file}`);
    if (!this.include.includes(meta.db, meta.table)) return;
    let idx = txn.schemaIndex.get(e.tableId);
    if (idx === undefined) {
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
      // SAVEPOINT, XA and the like inside a transaction carry no rows of their own.
      return;
    }
    const ddl = TABLE_DDL.test(stmt) && this.include.includesDb(qualifiedDb(stmt) ?? e.db) ? { db: e.db, statement: stmt } : undefined;
    if (this.open === undefined) this.implicitBegin(e.timestamp, e.nextPosition);
    this.commit(e.nextPosition, ddl);
  }

  private implicitBegin(ts: number, pos = 0): OpenTxn {
    this.begin(undefined, true, pos, ts);
    return this.open as OpenTxn;
  }

  private commit(pos: number, ddl: SchemaChange | undefined): void {
    const txn = this.open;
    if (txn === undefined) return;
    this.open = undefined;
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
