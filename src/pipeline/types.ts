import type { BinaryTextType } from '../decode/binary-text.js';

/**
 * The shapes that flow through the pipeline: binlog → reader → batcher → decoder → committer.
 * Everything here is plain data (structured-clone safe) so it can cross into pool workers
 * and into the staging collection unchanged.
 */

import type { DdlAction, TableRef } from '../mongo/ddl-parse.js';

/** Where in the source binlog a transaction ends; enough to resume right after it. */
export interface SourcePosition {
  /** Binlog file name, e.g. `binlog.000003`. */
  file: string;
  /** Byte offset in `file` just after the transaction's last event. */
  pos: number;
  /**
   * MariaDB GTID position (`domain-server-seq[,…]`) or MySQL executed GTID set after this
   * transaction; undefined when the server does not use GTIDs (resume by file/pos then).
   */
  gtid?: string;
  /**
   * Which source history the file/offset belong to: bumped each time the pipeline finds the
   * source's identity changed (a failover to a replica, a renamed log-bin), whose binlog files
   * and offsets start over. Orders positions and row changes before file and offset; absent = 0.
   */
  epoch?: number;
  /** The identity of the server that wrote this position (`server_id/log_bin_basename`). */
  source?: string;
  /**
   * Which MariaDB columns are JSON at this position (src/mysql/json-columns.ts), saved with the
   * checkpoint so a restart types backlog rows by the tables as they were. Set only where it
   * changed: the reader and the batcher carry the last one forward.
   */
  json?: JsonColumnsState;
}

/** The JSON columns of the source's tables at a position: plain data, saved with the checkpoint. */
export interface JsonColumnsState {
  /** True: a table not listed (and not unknown) has no JSON column. False: it must be asked of the server. */
  complete: boolean;
  tables: { db: string; table: string; columns: string[] }[];
  /** Tables whose JSON columns sdl could not follow through a DDL: asked of the server when met. */
  unknown: { db: string; table: string }[];
}

/** The column kinds of the type table in DESIGN.md; the decoder maps each to one BSON type. */
export type ColumnKind =
  | 'int' // TINYINT … INT, YEAR → Int32 (INT UNSIGNED above 2^31−1 → Int64)
  | 'bigint' // BIGINT → Int64; unsigned > 2^63−1 → Decimal128
  | 'decimal' // DECIMAL → Decimal128
  | 'float' // FLOAT, DOUBLE → Double
  | 'string' // CHAR, VARCHAR, TEXT, ENUM → String
  | 'set' // SET → Array of String
  | 'binary' // BINARY, VARBINARY, BLOB, BIT → Binary
  | 'date' // DATE → Date (UTC midnight)
  | 'datetime' // DATETIME, TIMESTAMP → Date (UTC)
  | 'time' // TIME → String [-]HH:MM:SS[.ffffff]
  | 'geometry' // GEOMETRY: zongji parses it (a POINT arrives as { x, y }) → embedded document
  | 'json'; // JSON (MySQL) or MariaDB LONGTEXT with json_valid → document / array

export interface ColumnSpec {
  name: string;
  kind: ColumnKind;
  unsigned: boolean;
  /** Fractional-second digits for temporal columns (0–6). */
  fsp: number;
  /**
   * Set by the binlog reader on text columns not in UTF-8: their values arrive as the stored bytes
   * (a Uint8Array, or a string holding one byte per character) in this MySQL charset, and
   * src/decode/charsets.ts decodes them as the server does. Absent when values arrive as
   * text already (a mysql2 SELECT, converted by the server).
   */
  charset?: string;
  /** A YEAR column: zongji adds 1900 to the stored byte, so 1900 is the zero year 0000. */
  year?: boolean;
  /**
   * A BIT column: its value is bytes, but MySQL compares it as an unsigned integer, so a key
   * value goes back into a WHERE as one (src/mysql/table-read.ts), not as a byte string.
   */
  bit?: boolean;
  /**
   * MariaDB UUID/INET4/INET6 (set from information_schema): a SELECT returns text, the
   * binlog the stored bytes, and the mirror holds the bytes (src/decode/binary-text.ts).
   */
  binaryText?: BinaryTextType;
}

/** The schema a row image was written with: taken from that event's own TableMap. */
export interface TableSchema {
  db: string;
  table: string;
  columns: ColumnSpec[];
  /** Key column names (primary key, else first unique NOT NULL key); empty → event log only. */
  key: string[];
}

/** A raw column value as zongji hands it over with exact options (dateStrings, big numbers as strings). */
export type RawValue = null | string | number | boolean | Uint8Array | Date | RawValue[] | { [k: string]: RawValue };
export type RawRow = Record<string, RawValue>;

export type Op = 'insert' | 'update' | 'delete';
/**
 * What a decoded change records: a binlog row change, or `r` (read) for a row copied by the
 * initial snapshot. `r` is not a change of the source and is never counted as one.
 */
export type EventOp = Op | 'r';

/** One row change inside a source transaction. */
export interface RowChange {
  op: Op;
  /** Index into SourceTransaction.schemas. */
  schema: number;
  before: RawRow | null;
  after: RawRow | null;
  /**
   * Deterministic identity: the same row change read again from the binlog gets the same id
   * (`<gtid or file:startpos>#<ordinal in transaction>`).
   */
  id: string;
  /**
   * Sortable position of this row change in the source history (zero-padded
   * `fileseq:eventpos:row`), used to keep an older image from overwriting a newer one.
   */
  seq: string;
}

/** A DDL or TRUNCATE statement that arrived as a query event. */
export interface SchemaChange {
  /** The session's default database ('' for none): unqualified names in `statement` refer to it. */
  db: string;
  statement: string;
  /** What it does to mirrors, read by the reader (which knows the server's name rules); absent in batches staged by older versions. */
  action?: DdlAction;
  /**
   * Included tables whose stored rows the statement changed without row events, and why: each
   * gets an online re-snapshot when the statement is applied. Judged by the reader, whose include
   * filter follows the server's name rules (lower_case_table_names=1 logs names in lower case).
   */
  copies?: RowlessCopies;
}

export interface RowlessCopies {
  tables: TableRef[];
  why: string[];
}

/** A whole committed source transaction, as the reader hands it on. */
export interface SourceTransaction {
  /** GTID of this transaction (`0-1-42` or `uuid:n`) or undefined without GTIDs. */
  gtid: string | undefined;
  /** Commit time on the source, ms since epoch. */
  ts: number;
  /** Position right after this transaction: resuming there replays nothing of it. */
  end: SourcePosition;
  schemas: TableSchema[];
  changes: RowChange[];
  /** Set on DDL transactions; applied before the transaction's row changes (only `CREATE TABLE … SELECT` has any). */
  ddl?: SchemaChange;
  /** Estimated bytes held in memory (for backpressure). */
  bytes: number;
  /**
   * Set on a slice of a transaction handed on before its commit, because its rows passed the
   * slice threshold (src/mysql/transaction-assembler.ts). An open slice's `end` is where its
   * group began (a resume there reads the whole group again); the closing slice's is the
   * group's real end.
   */
  slice?: TxnSlice;
}

/**
 * One slice of a source transaction streamed through staging. Open slices are staged and not
 * applied (the group may still end in ROLLBACK, and a restart deletes them: the binlog re-read
 * brings them again); the closing slice commits the group: its staged slices are applied, one
 * at a time, before the closing slice's own rows.
 */
export interface TxnSlice {
  /** The group's deterministic id: `<gtid or file:startpos>`, the base of its change ids. */
  group: string;
  open: boolean;
}

/**
 * A row image mapped to BSON-ready values by the type table (after `rehydrate` on the main
 * thread: Long, Decimal128, Double and Binary instances where the table says so).
 */
export type MappedDoc = Record<string, unknown>;

/** A row change after decoding: what the committer writes. */
export interface DecodedChange {
  id: string;
  seq: string;
  op: EventOp;
  db: string;
  table: string;
  /** Mirror `_id`: the key value, an object for composite keys; null when the table has no key. */
  key: unknown;
  /** For an update that changed the key: the old key, whose mirror document must go. */
  oldKey?: unknown;
  before: MappedDoc | null;
  after: MappedDoc | null;
  /** Exact source text for values BSON cannot hold exactly, by column (`_sdl.raw`). */
  raw?: Record<string, string>;
  /** Canonical hash of the after image (`_sdl.h`), null for deletes. */
  h: string | null;
  gtid: string | undefined;
  /** Source commit time, ms since epoch. */
  ts: number;
}

/** What the batcher hands the committer: whole transactions (or one chunk of a huge one). */
export interface Batch {
  /** Deterministic: derived from the first change's id or the end position. */
  id: string;
  /** Checkpoint to save once this batch is applied; undefined for a non-final chunk of a transaction. */
  end: SourcePosition | undefined;
  /** Position of the last transaction whose end this batch contains, for logs and lag. */
  lastTs: number;
  changes: DecodedChange[];
  ddl: SchemaChange[];
  rows: number;
  bytes: number;
  /** An open slice's batch (stage only), or the batch that closes a streamed group (see TxnSlice). */
  slice?: TxnSlice;
}
