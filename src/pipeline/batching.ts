import type { Batch, SchemaChange, SourcePosition, SourceTransaction, TxnSlice } from './types.js';

/** A whole transaction, or one chunk of a transaction larger than a batch. */
export interface Part {
  gtid: SourceTransaction['gtid'];
  ts: number;
  schemas: SourceTransaction['schemas'];
  changes: SourceTransaction['changes'];
  /** Set only on a transaction's last part: the checkpoint may move there once it is applied. */
  end: SourcePosition | undefined;
  ddl: SchemaChange | undefined;
  bytes: number;
  /** On every part of an open slice, and on the first part of a group's closing slice. */
  slice?: TxnSlice;
}

export interface Limits {
  maxRows: number;
  maxBytes: number;
}

/**
 * Held bytes past which the reader hands on an open transaction in slices: a batch's worth, and
 * at most a quarter of the in-flight budget, so the one open transaction the reader holds plus
 * what waits for MongoDB stays near the budget.
 */
export function sliceBytesFor(limits: { maxInFlightBytes: number; batch: { maxBytes: number } }): number {
  return Math.max(1, Math.min(limits.batch.maxBytes, Math.floor(limits.maxInFlightBytes / 4)));
}

/**
 * Splits a transaction into parts of at most maxRows changes; only the last carries the end,
 * and none of an open slice's (its group has not committed).
 */
export function toParts(txn: SourceTransaction, maxRows: number): Part[] {
  const n = txn.changes.length;
  const open = txn.slice?.open === true;
  const end = open ? undefined : txn.end;
  const slice = txn.slice === undefined ? {} : { slice: txn.slice };
  if (n <= maxRows) return [{ gtid: txn.gtid, ts: txn.ts, schemas: txn.schemas, changes: txn.changes, end, ddl: txn.ddl, bytes: txn.bytes, ...slice }];
  const parts: Part[] = [];
  const perRow = txn.bytes / n;
  for (let i = 0; i < n; i += maxRows) {
    const changes = txn.changes.slice(i, i + maxRows);
    const last = i + maxRows >= n;
    // The first chunk carries the DDL (`CREATE TABLE … SELECT`): it must be applied before any row;
    // and a closing slice's mark: its group's staged slices are applied before any of its rows.
    parts.push({ gtid: txn.gtid, ts: txn.ts, schemas: txn.schemas, changes, end: last ? end : undefined, ddl: i === 0 ? txn.ddl : undefined, bytes: Math.ceil(perRow * changes.length), ...(open || i === 0 ? slice : {}) });
  }
  return parts;
}

export function rowsOf(parts: readonly Part[]): number {
  let n = 0;
  for (const p of parts) n += p.changes.length;
  return n;
}

export function bytesOf(parts: readonly Part[]): number {
  let n = 0;
  for (const p of parts) n += p.bytes;
  return n;
}

/** A batch must close now: it is at a limit, or it holds a DDL or an open slice (which stand alone). */
export function isFull(parts: readonly Part[], limits: Limits): boolean {
  return rowsOf(parts) >= limits.maxRows || bytesOf(parts) >= limits.maxBytes || parts.some((p) => p.ddl !== undefined || p.slice?.open === true);
}

/**
 * The next batch from the open parts: up to the limits, and never mixing a DDL with rows, so
 * everything before a schema change is applied before it and everything after, after. A part
 * of an open slice is a batch alone (its id then depends only on the slice, the same on a
 * re-read), and a closing slice starts one (its group's staged slices are applied first).
 */
export function takeBatch(parts: readonly Part[], limits: Limits): { batch: Part[]; rest: Part[] } {
  if (parts.length === 0) return { batch: [], rest: [] };
  if (parts[0]?.ddl !== undefined || parts[0]?.slice?.open === true) return { batch: parts.slice(0, 1), rest: parts.slice(1) };
  let rows = 0;
  let bytes = 0;
  let i = 0;
  for (; i < parts.length; i++) {
    const p = parts[i];
    if (p.ddl !== undefined || (i > 0 && p.slice !== undefined)) break;
    if (i > 0 && (rows + p.changes.length > limits.maxRows || bytes + p.bytes > limits.maxBytes)) break;
    rows += p.changes.length;
    bytes += p.bytes;
  }
  return { batch: parts.slice(0, i), rest: parts.slice(i) };
}

/**
 * Where the checkpoint may move once every part of the batch is applied, with the JSON columns
 * there when a part of this batch changed them (the stored checkpoint keeps its own otherwise).
 */
export function batchEnd(parts: readonly Part[]): SourcePosition | undefined {
  let end: SourcePosition | undefined;
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i]?.end;
    if (p === undefined) continue;
    if (end === undefined) {
      end = p;
      if (end.json !== undefined) return end;
    } else if (p.json !== undefined) return { ...end, json: p.json };
  }
  return end;
}

/** Builds the batch the committer writes from decoded parts (used by the decode actor). */
export function batchFrom(parts: readonly Part[], changes: Batch['changes']): Batch {
  const end = batchEnd(parts);
  const first = changes[0];
  const lastTs = parts.length > 0 ? (parts[parts.length - 1]).ts : Date.now();
  return {
    id: first !== undefined ? first.id : end !== undefined ? `pos:${end.file}:${end.pos}` : `empty:${lastTs}`,
    end,
    lastTs,
    changes,
    ddl: parts.flatMap((p) => (p.ddl === undefined ? [] : [p.ddl])),
    rows: rowsOf(parts),
    bytes: bytesOf(parts),
    ...(parts[0]?.slice !== undefined ? { slice: parts[0].slice } : {}),
  };
}
