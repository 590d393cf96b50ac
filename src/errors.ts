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

export class SdlError extends Error {
  constructor(
    readonly code: string,
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
  code: string;
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

/** MySQL/MariaDB client and server errors → class. */
export function classifyMysqlError(err: unknown): ErrorInfo {
  const e = err as { code?: unknown; errno?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : typeof e.errno === 'number' ? `MYSQL_${e.errno}` : 'UNKNOWN';
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
