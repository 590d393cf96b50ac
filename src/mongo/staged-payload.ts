import { decodeBatch } from '../decode/decode-changes.js';
import { rehydrate } from '../decode/rehydrate.js';
import type { DecodeResult, DecodeTask, StagedPayload, StagingTask } from '../decode/wire.js';
import { batchFrom } from '../pipeline/batching.js';
import { encodeBatch } from './batch-codec.js';
import { scopeBatch } from './scope.js';

/**
 * The decode task, the same in a pool worker and inline (`workers: 0`): the wire form of the
 * changes and, for a StagingTask, the batch's staging payload. The payload is the very encoding
 * Staging.stageBatch would make on the main thread (same batchFrom, scopeBatch, encodeBatch over
 * the same rehydration), so the main thread stages bytes it did not build.
 */
export function decodeTask(task: DecodeTask | StagingTask): DecodeResult {
  const result = decodeBatch(task);
  if ('stage' in task) result.payload = encodeStaged(task, result);
  return result;
}

function encodeStaged(task: StagingTask, result: DecodeResult): StagedPayload {
  const { pipeline, partBytes } = task.stage;
  const batch = scopeBatch(batchFrom(task.transactions, rehydrate(result, { copy: true })), pipeline);
  return { batch: batch.id, partBytes, parts: encodeBatch(batch, partBytes).map(owning) };
}

/**
 * A small Buffer is a view on Node's shared pool: moving that ArrayBuffer out of a worker would
 * detach the pool under every other Buffer in it. Such a part is copied into its own.
 */
function owning(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer ? b : new Uint8Array(b);
}
