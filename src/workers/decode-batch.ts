/**
 * Piscina task module: one task per batch. The default export is the pure decode task
 * (src/mongo/staged-payload.ts, which `workers: 0` runs inline); `decodeMoving` is what the pool
 * runs: the same result, with its byte arrays transferred instead of copied when that is worth it.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import type { DecodeResult, DecodeTask, StagingTask } from '../decode/wire.js';
import { decodeTask } from '../mongo/staged-payload.js';

/** Below this many bytes a copy is as cheap as the bookkeeping of a transfer. */
export const TRANSFER_MIN_BYTES = 64 * 1024;

export default function decode(input: DecodeTask | StagingTask): DecodeResult {
  return decodeTask(input);
}

/**
 * Every byte array in the result is either a slice of the task's own cloned input, was allocated
 * by the mapping, or is a staging payload part that owns its buffer (never Node's shared Buffer
 * pool), so detaching them here is safe.
 */
export function transferables(result: DecodeResult): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const c of result.changes) {
    for (const [image, column, tag] of c.wraps) {
      if (tag !== 'binary') continue;
      const v = (image === 0 ? c.before : c.after)?.[column];
      if (v instanceof Uint8Array && v.buffer instanceof ArrayBuffer) buffers.add(v.buffer);
    }
  }
  for (const p of result.payload?.parts ?? []) {
    if (p.buffer instanceof ArrayBuffer) buffers.add(p.buffer);
  }
  return [...buffers];
}

export function decodeMoving(input: DecodeTask | StagingTask): unknown {
  const result = decodeTask(input);
  const buffers = transferables(result);
  const bytes = buffers.reduce((n, b) => n + b.byteLength, 0);
  if (bytes < TRANSFER_MIN_BYTES) return result;
  return move({ [transferableSymbol]: buffers, [valueSymbol]: result });
}
