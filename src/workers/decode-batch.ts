/**
 * Piscina task module: one task per batch. The default export is the pure decode step;
 * `decodeMoving` is what the pool runs: the same result, with its byte arrays transferred
 * instead of copied when that is worth it.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { decodeBatch } from '../decode/decode-changes.js';
import type { DecodeResult, DecodeTask } from '../decode/wire.js';

/** Below this many bytes a copy is as cheap as the bookkeeping of a transfer. */
export const TRANSFER_MIN_BYTES = 64 * 1024;

export default function decode(input: DecodeTask): DecodeResult {
  return decodeBatch(input);
}

/**
 * Every byte array in the result is either a slice of the task's own cloned input or was
 * allocated by the mapping (never Node's shared Buffer pool), so detaching them here is safe.
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
  return [...buffers];
}

export function decodeMoving(input: DecodeTask): unknown {
  const result = decodeBatch(input);
  const buffers = transferables(result);
  const bytes = buffers.reduce((n, b) => n + b.byteLength, 0);
  if (bytes < TRANSFER_MIN_BYTES) return result;
  return move({ [transferableSymbol]: buffers, [valueSymbol]: result });
}
