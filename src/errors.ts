/**
 * One error type for everything sdl reports, with a class that decides what happens next:
 * transient errors are retried forever with backoff, the others stop the pipeline with a
 * message that says what to do.
 */
export type ErrorClass = 'transient' | 'auth' | 'config' | 'permanent';

/**
 * The process exit code for a failure of this class: 2 when an operator must change a setting
 * or a credential before a restart can help (systemd's unit does not restart on 2), else 1.
 */
export function exitCodeOf(errorClass: ErrorClass): 1 | 2 {
  return errorClass === 'config' || errorClass === 'auth' ? 2 : 1;
}

/**
 * What kind of transient failure it is, which decides how soon to try again (the delays are in
 * src/machines/backoff.ts, next to the policy): a lost network waits long, an election is over
 * in seconds, a write conflict clears at once, a throttling server asks to be left alone.
 */
export type RetryKind = 'network' | 'election' | 'conflict' | 'throttled' | 'other';

/**
 * Every code sdl raises itself, each with what it means; operators, alert rules and
 * docs/troubleshooting.md#error-codes match on these strings, so a new one is added here (and
 * there) and a typo fails to compile.
 */
export const SDL_CODES = {
  CONFIG: 'a setting is missing or invalid (the message names it)',
  TLS: 'the MySQL server offers no TLS, or its certificate is not signed by ssl-ca or does not name the host',
  WRITE_CONCERN: 'MongoDB refused the write concern asked for, or mongo.url asks for unacknowledged writes',
  WEAK_WRITE_CONCERN: 'MongoDB accepts only a write concern weaker than { w: "majority", j: true } and it is not allowed',
  WRITE_CONCERN_REFUSED: 'MongoDB stopped accepting the write concern decided at start',
  SOURCE_PREREQUISITE: 'the source server lacks a prerequisite (binlog off, not ROW, not FULL image or metadata)',
  SNAPSHOT_POSITION: 'the source gave no binlog position for the consistent snapshot',
  NAME_COLLISION: 'two mirror names collide (case only, or databaseMap sends two tables to one collection)',
  HAS_CHECKPOINT: '`sdl snapshot` on a pipeline that already has a checkpoint',
  NO_CHECKPOINT: '`sdl snapshot --tables` on a pipeline without a checkpoint',
  UNKNOWN_TABLE: '`sdl snapshot --tables` names a table that is not included',
  VERIFY_TABLES: '`sdl verify --tables` names a table that is not included or does not exist',
  UNSUPPORTED_BINLOG: 'the source writes a binlog event sdl cannot decode',
  BINLOG_PURGED: 'the binlog needed to resume was purged from the source',
  PRIMARY_KEY_CHANGED: 'an ALTER changed the key of an included table',
  FK_CASCADE: 'an included table is changed by a foreign key ON DELETE/UPDATE action, which the binlog does not carry',
  STATEMENT_FORMAT_DML: 'DML was logged as a statement (binlog_format STATEMENT/MIXED, LOAD DATA)',
  PARTIAL_ROW_IMAGE: 'a row event lacks columns (binlog_row_image MINIMAL/NOBLOB)',
  UNSUPPORTED_EVENT: 'a transaction sdl cannot apply exactly (the message says which)',
  UNSUPPORTED_COLUMN: 'a column in a refused charset or of an unknown type',
  SCHEMA_UNKNOWN: 'rows of a table sdl could not follow through a DDL and that no longer exists',
  SNAPSHOT_KEY: 'the snapshot cannot page through a table\'s key exactly',
  SNAPSHOT_CHECKPOINT: 'another instance wrote the pipeline during this one\'s snapshot',
  LEASE_LOST: 'another instance took the pipeline\'s single-writer lease over',
  FENCED: 'a checkpoint write found a newer lease term: another instance writes this pipeline',
  LEASE_STALE: 'the lease was not renewed recently; writes wait (transient)',
  SOURCE_SILENT: 'no binlog event or heartbeat for several heartbeat periods: the replication connection is dead (transient)',
  STOPPED: 'stopped by a signal during a step that cannot finish',
  DECODE: 'decoding a batch failed (a bug)',
  UNEXPECTED: 'an error no classifier knew (a bug)',
} as const;

/** A code sdl raises itself; see SDL_CODES for what each means. */
export type SdlCode = keyof typeof SDL_CODES;

declare const driverBrand: unique symbol;

/**
 * A code that passes through from a driver, with its text unchanged (ECONNRESET,
 * ER_ACCESS_DENIED_ERROR, MYSQL_1236, MONGO_<code name or number>): made only by the classify
 * functions at the I/O edge (classifyMysqlError here, mongoErrorInfo in src/mongo/errors.ts).
 */
export type DriverCode = string & { readonly [driverBrand]: 'driver' };

/** For the classify functions only: the driver's code text, kept as it is for logs and alerts. */
export function driverCode(text: string): DriverCode {
  return text as DriverCode;
}

export type ErrorCode = SdlCode | DriverCode;

export class SdlError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly errorClass: ErrorClass,
    readonly hint?: string,
    options?: { cause?: unknown; retry?: RetryKind },
  ) {
    super(message, options);
    this.name = 'SdlError';
    if (options?.retry !== undefined) this.retry = options.retry;
  }

  /** For transient errors: how to pace the retry (see RETRY_POLICY). */
  readonly retry?: RetryKind;

  toJSON(): Record<string, unknown> {
    return { code: this.code, class: this.errorClass, message: this.message, hint: this.hint };
  }
}

/** The plain-data form that crosses actor boundaries and goes into logs. */
export interface ErrorInfo {
  code: ErrorCode;
  errorClass: ErrorClass;
  message: string;
  hint?: string;
  /** Transient errors only: how to pace the retry; absent means 'other'. */
  retry?: RetryKind;
}

export function errorInfo(err: unknown, fallback: (e: unknown) => ErrorInfo): ErrorInfo {
  if (err instanceof SdlError) {
    const info: ErrorInfo = { code: err.code, errorClass: err.errorClass, message: err.message };
    if (err.hint !== undefined) info.hint = err.hint;
    if (err.retry !== undefined) info.retry = err.retry;
    return info;
  }
  return fallback(err);
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN',
]);

/**
 * The one conversion of a MySQL/MariaDB client or server error into sdl's terms. Policy: a
 * purged binlog is permanent (BINLOG_PURGED, no retry can bring it back); a refused user or
 * privilege is auth (exit 2); the network is transient, paced as 'network'; anything else is
 * transient too, since the source's own errors (a lock wait, a restart) pass with time.
 * The driver's code text is kept (ECONNRESET, ER_…, MYSQL_<errno>). A failed TLS handshake is
 * explained before it gets here, where the connection's ssl-mode is known (explainConnectError
 * in src/mysql/connection.ts), and arrives as an SdlError TLS, which errorInfo passes through.
 */
export function classifyMysqlError(err: unknown): ErrorInfo {
  const e = err as { code?: unknown; errno?: unknown; message?: unknown };
  const code = driverCode(typeof e.code === 'string' ? e.code : typeof e.errno === 'number' ? `MYSQL_${e.errno}` : 'UNKNOWN');
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (e.errno === 1236 || /could not find first log file|binlog.*purged|GTID.*not.*(found|exist)|Could not find GTID/i.test(message)) {
    return {
      code: 'BINLOG_PURGED',
      errorClass: 'permanent',
      message: `the source no longer has the binlog needed to resume: ${message}`,
      hint: 'the checkpoint in `offsets` names the GTID/file needed; restore that binlog on the source, or re-snapshot: start once with `sdl run --resnapshot` (drops this pipeline\'s checkpoint, copies every included table again, then streams)',
    };
  }
  if (e.errno === 1045 || e.errno === 1044 || e.errno === 1227 || code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR') {
    return { code, errorClass: 'auth', message, hint: 'check the user and password (mysql.url, SDL_MYSQL_PASSWORD_FILE); the MySQL user needs REPLICATION SLAVE, REPLICATION CLIENT and SELECT; a user created REQUIRE SSL needs ssl-mode (REQUIRE X509 also ssl-cert and ssl-key)' };
  }
  if (NETWORK_CODES.has(code) || /connection|socket|timeout|closed state/i.test(message)) {
    return { code, errorClass: 'transient', message, retry: 'network' };
  }
  return { code, errorClass: 'transient', message };
}
