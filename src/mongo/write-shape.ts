import { BSON, MongoBulkWriteError, type BulkWriteResult, type Document } from 'mongodb';
import type { DecodedChange } from '../pipeline/types.js';
import { classifyMongoError, isTransientCode, writeErrorsOf, type WriteFailure } from './errors.js';

/** The server's document limit (MongoDB and FerretDB both report 16 MiB in hello). */
export const MAX_DOC_BYTES = 16 * 1024 * 1024;
/** BSONObjectTooLarge: what the server would answer; we answer it before sending. */
export const TOO_LARGE_CODE = 10334;

/** Where a rejected change was going. */
export interface Target {
  kind: 'event' | 'mirror';
  db: string;
  collection: string;
}

/** A change the server would not take, with why: becomes a dead letter. */
export interface Rejection {
  change: DecodedChange;
  target: Target;
  reason: { code: number | string | undefined; message: string };
  /** For mirror writes: which write (a key-changing update also deletes its old key). */
  mirror?: { kind: 'upsert' | 'delete'; key: unknown };
}

export interface ChunkLimits {
  /** Operations per command. */
  ops: number;
  /** Summed document bytes per command; under 16 MiB so no command nears the message limit. */
  bytes: number;
  /** Update/replace/delete operations per command, when lower than `ops`. */
  updateOps?: number;
}

export const DEFAULT_CHUNK: ChunkLimits = { ops: 1000, bytes: 8 * 1024 * 1024 };

/**
 * FerretDB 1.24 (SQLite) never answers an update command of 100 or more statements that match
 * existing documents (the connection hangs; 99 work), so mirror writes go in runs of 99 there.
 */
export const FERRETDB_CHUNK: ChunkLimits = { ...DEFAULT_CHUNK, updateOps: 99 };

export function bsonSize(doc: Document): number {
  return BSON.calculateObjectSize(doc);
}

/** Groups items into runs under both limits, keeping order. */
export function chunk<T>(items: readonly T[], sizeOf: (t: T) => number, limits: ChunkLimits): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (cur.length > 0 && (cur.length >= limits.ops || bytes + size > limits.bytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(item);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export interface BulkOutcome {
  counts: BulkCounts;
  failures: WriteFailure[];
}

export interface BulkCounts {
  inserted: number;
  matched: number;
  upserted: number;
  deleted: number;
}

/**
 * Runs one unordered bulk command and separates per-operation failures from failures of the
 * whole command. Per-operation failures come back for the caller to judge (duplicate, older,
 * dead letter); a command failure, a write concern failure or a per-operation failure with a
 * transient code is thrown for the caller's retry loop.
 */
export async function runBulk(run: () => Promise<BulkWriteResult>): Promise<BulkOutcome> {
  try {
    return { counts: countsOf(await run()), failures: [] };
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError) || classifyMongoError(err) === 'transient') throw err;
    const failures = writeErrorsOf(err);
    if (failures.length === 0 || failures.some((f) => isTransientCode(f.code))) throw err;
    if (err.result.getWriteConcernError() !== undefined) throw err;
    return { counts: countsOf(err.result), failures };
  }
}

function countsOf(r: BulkWriteResult): BulkCounts {
  return { inserted: r.insertedCount, matched: r.matchedCount, upserted: r.upsertedCount, deleted: r.deletedCount };
}
