import {
  MongoBulkWriteError,
  MongoError,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  MongoWriteConcernError,
  type WriteError,
} from 'mongodb';

import { driverCode, type ErrorInfo, type RetryKind } from '../errors.js';

export type ErrorClass = 'transient' | 'permanent';

export const DUPLICATE_KEY = 11000;

/**
 * Server codes that mean "try again later": the server is going away, stepping down, not
 * primary, or the operation timed out. From the MongoDB error code list (and what the
 * driver's own retryable-write logic treats as retryable).
 */
const TRANSIENT_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  50, // MaxTimeMSExpired
  64, // WriteConcernFailed (wtimeout)
  89, // NetworkTimeout
  91, // ShutdownInProgress
  112, // WriteConflict
  134, // ReadConcernMajorityNotAvailableYet
  189, // PrimarySteppedDown
  202, // NetworkInterfaceExceededTimeLimit
  251, // NoSuchTransaction (aborted under us)
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

const TRANSIENT_SYSCALL = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

const TRANSIENT_LABELS = [
  'RetryableWriteError',
  'TransientTransactionError',
  'UnknownTransactionCommitResult',
  'ResetPool',
  'PoolRequestedRetry',
  'RetryableError',
  'SystemOverloadedError',
];

const TRANSIENT_NAMES = new Set([
  'MongoPoolClearedError',
  'MongoNetworkTimeoutError',
  'MongoOperationTimeoutError',
  // A client sdl replaced (MongoTarget.heal) is closed a minute later; a step still writing
  // through it then fails with one of these, and its retry takes the new client.
  'MongoTopologyClosedError',
  'MongoNotConnectedError',
]);

const ELECTION_CODES = new Set([91, 189, 10107, 11600, 11602, 13435, 13436]);
const CONFLICT_CODES = new Set([112, 251]);
/** ExceededMemoryLimit-style admission control and managed services' rate limits. */
const THROTTLE_CODES = new Set([462, 16500]);

/**
 * How to pace the retry of a transient MongoDB failure (see RETRY_POLICY): replica set
 * elections, write conflicts and throttling each have their own rhythm; the rest is the network.
 */
export function mongoRetryKind(err: unknown): RetryKind {
  const wrapped = err instanceof MongoBulkWriteError && err.errorResponse instanceof Error ? err.errorResponse : undefined;
  if (wrapped !== undefined) return mongoRetryKind(wrapped);
  if (err instanceof MongoError) {
    if (err.hasErrorLabel('SystemOverloadedError') && !(err instanceof MongoNetworkError)) return 'throttled';
    const code = typeof err.code === 'number' ? err.code : undefined;
    if (code !== undefined && THROTTLE_CODES.has(code)) return 'throttled';
    if (code !== undefined && ELECTION_CODES.has(code)) return 'election';
    if ((code !== undefined && CONFLICT_CODES.has(code)) || err.hasErrorLabel('TransientTransactionError')) return 'conflict';
    if (err instanceof MongoBulkWriteError) {
      const codes = writeErrorsOf(err).map((w) => w.code);
      if (codes.some((c) => ELECTION_CODES.has(c))) return 'election';
      if (codes.length > 0 && codes.every((c) => CONFLICT_CODES.has(c))) return 'conflict';
    }
  }
  return 'network';
}

export function isTransientCode(code: unknown): boolean {
  return typeof code === 'number' && TRANSIENT_CODES.has(code);
}

/**
 * FerretDB answers an operation cut short by its own shutdown (SIGTERM) with InternalError
 * (code 1) ending in "context canceled", where MongoDB says InterruptedAtShutdown (11600):
 * the server is going away, not refusing the write. Seen on a delete while the dashboard test
 * stopped FerretDB; sdl took it as permanent and exited.
 */
function isCanceledByShutdown(code: unknown, message: string): boolean {
  return code === 1 && /context canceled/.test(message);
}

/**
 * Whether a failed MongoDB call should be retried (transient) or needs a person or a dead
 * letter (permanent). Unknown errors are permanent: retrying forever on a bug hides it.
 */
export function classifyMongoError(err: unknown): ErrorClass {
  // The driver wraps a failure of the whole bulk command (no server selected, a socket timeout)
  // in MongoBulkWriteError, keeps the original as `errorResponse` and copies no retry label:
  // whatever the network caused is transient however it is wrapped.
  const wrapped = err instanceof MongoBulkWriteError ? err.errorResponse : err instanceof Error ? err.cause : undefined;
  if (wrapped instanceof Error && wrapped !== err && classifyMongoError(wrapped) === 'transient') return 'transient';
  if (err instanceof MongoNetworkError || err instanceof MongoServerSelectionError) return 'transient';
  if (err instanceof MongoError) {
    for (const label of TRANSIENT_LABELS) if (err.hasErrorLabel(label)) return 'transient';
    if (TRANSIENT_NAMES.has(err.name)) return 'transient';
    if (err instanceof MongoWriteConcernError && isTransientCode(err.code)) return 'transient';
    if (err instanceof MongoBulkWriteError) {
      const codes = writeErrorsOf(err).map((w) => w.code);
      if (isTransientCode(err.code)) return 'transient';
      if (codes.length > 0 && codes.every(isTransientCode)) return 'transient';
      const failures = writeErrorsOf(err);
      if (failures.length > 0 && failures.every((w) => isTransientCode(w.code) || isCanceledByShutdown(w.code, w.message))) return 'transient';
      return 'permanent';
    }
    if (err instanceof MongoServerError) return isTransientCode(err.code) || isCanceledByShutdown(err.code, err.message) ? 'transient' : 'permanent';
    return isTransientCode(err.code) ? 'transient' : 'permanent';
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && TRANSIENT_SYSCALL.has(code)) return 'transient';
  }
  return 'permanent';
}

/**
 * The one conversion of a MongoDB driver error into sdl's terms, at the I/O edge (mongoStep):
 * class from classifyMongoError, pace from mongoRetryKind, and the driver's code kept as
 * MONGO_<code> (MONGO_ERROR when it has none) for logs and alert rules.
 */
export function mongoErrorInfo(err: unknown): ErrorInfo {
  const reason = reasonOf(err);
  const transient = classifyMongoError(err) === 'transient';
  return {
    code: driverCode(`MONGO_${String(reason.code ?? 'ERROR')}`),
    errorClass: transient ? 'transient' : 'permanent',
    message: `MongoDB: ${reason.message}`,
    ...(transient ? { retry: mongoRetryKind(err) } : {}),
  };
}

export interface WriteFailure {
  /** Index of the operation inside the command that failed. */
  index: number;
  code: number;
  message: string;
}

export function writeErrorsOf(err: MongoBulkWriteError): WriteFailure[] {
  const raw: WriteError | readonly WriteError[] = err.writeErrors;
  const list: readonly WriteError[] = isList(raw) ? raw : [raw];
  return list.map((w) => ({ index: w.index, code: w.code, message: w.errmsg ?? '' }));
}

function isList(v: WriteError | readonly WriteError[]): v is readonly WriteError[] {
  return Array.isArray(v);
}

export function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

export function reasonOf(err: unknown): { code: number | string | undefined; message: string } {
  if (err instanceof MongoError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: err.name, message: err.message };
  return { code: undefined, message: String(err) };
}
