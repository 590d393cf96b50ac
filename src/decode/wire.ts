/**
 * The clone-safe shapes a decode task returns. Structured clone (worker_threads, piscina)
 * keeps primitives, bigint, Date, Uint8Array, arrays and plain objects, but turns class
 * instances such as Long, Decimal128, Double and Binary into plain objects that the driver
 * would then store as sub-documents without complaint. So the worker returns plain data and
 * a list of wraps, and the main thread builds the BSON classes (`rehydrate.ts`).
 */
import type { Part } from '../pipeline/batching.js';
import type { Op, SourceTransaction } from '../pipeline/types.js';

/** What the connected MongoDB-wire server can store (from the startup capability probe). */
export interface DecodeCapabilities {
  decimal128: boolean;
  nestedArrays: boolean;
  /** Document keys may contain '.', start with '$' or contain NUL. */
  dottedKeys: boolean;
}

export const FULL_CAPABILITIES: Readonly<DecodeCapabilities> = Object.freeze({
  decimal128: true,
  nestedArrays: true,
  dottedKeys: true,
});

export type WireValue =
  | null
  | string
  | number
  | bigint
  | boolean
  | Date
  | Uint8Array
  | WireValue[]
  | { [k: string]: WireValue };

export type WireDoc = Record<string, WireValue>;

/**
 * How the main thread wraps a top-level column value:
 * long: number or bigint → Long; decimal: 16 bytes → Decimal128;
 * double: number → Double; binary: Uint8Array → Binary.
 */
export type WrapTag = 'long' | 'decimal' | 'double' | 'binary';

/** 0 = before image, 1 = after image. */
export type ImageIndex = 0 | 1;
export type Wrap = [image: ImageIndex, column: string, tag: WrapTag];

/** A mirror `_id` in parts, in key order, each with the wrap the main thread applies. */
export interface WireKey {
  values: WireValue[];
  wraps: Array<WrapTag | null>;
}

export interface WireChange {
  id: string;
  seq: string;
  op: Op;
  db: string;
  table: string;
  /** Key column names in key order (shared with the schema, so cloned once per batch). */
  keyColumns: string[];
  /** The mirror `_id` (`key.ts`), from the after image except for deletes; null without a key. */
  key: WireKey | null;
  /** For updates: the before image's `_id`; it becomes `oldKey` when it differs from `key`. */
  beforeKey?: WireKey;
  before: WireDoc | null;
  after: WireDoc | null;
  raw?: Record<string, string>;
  h: string | null;
  gtid: string | undefined;
  ts: number;
  wraps: Wrap[];
}

export interface DecodeTask {
  transactions: Array<Pick<SourceTransaction, 'gtid' | 'ts' | 'schemas' | 'changes'>>;
  caps: DecodeCapabilities;
}

/** How the stream's batches are staged: what a task needs to build a batch's staging payload itself. */
export interface StagePlan {
  /** Ids in staging are scoped by pipeline (src/mongo/scope.ts). */
  pipeline: string;
  /** Staging's part size (payload.ts PART_BYTES unless a test sets it). */
  partBytes: number;
}

/**
 * A decode task for one of the stream's batches: its whole parts (the batch header comes from
 * them, as batchFrom builds it) and the plan, so the task also encodes the staging payload.
 */
export interface StagingTask extends DecodeTask {
  transactions: Part[];
  stage: StagePlan;
}

/** A batch's staging payload, built by the decode task: staging writes these bytes as they are. */
export interface StagedPayload {
  /** The scoped id of the batch it encodes; staging uses it only for that batch. */
  batch: string;
  partBytes: number;
  /** Each part owns its whole ArrayBuffer, so a worker can move it to the main thread. */
  parts: Uint8Array[];
}

export interface DecodeResult {
  changes: WireChange[];
  /** Set for a StagingTask. */
  payload?: StagedPayload;
}
