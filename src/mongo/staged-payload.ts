import { decodeBatch } from '../decode/decode-changes.js';
import { rehydrate } from '../decode/rehydrate.js';
import type { DecodeResult, DecodeTask, StagedPayload, StagingTask } from '../decode/wire.js';
import { batchFrom } from '../pipeline/batching.js';
import type { DecodedChange } from '../pipeline/types.js';
import { encodeBatch } from './batch-codec.js';
import { scopeBatch } from './scope.js';

/**
 * The pool's decode task: the wire form of the changes and, for a StagingTask, the batch's
 * staging payload, encoded from a rehydrated copy (the wire form crosses back to the main
 * thread as it is). The payload is the very encoding Staging.stageBatch would make on the main
 * thread (same batchFrom, scopeBatch, encodeBatch over the same rehydration), so the main thread
 * stages bytes it did not build.
 */
export function decodeTask(task: DecodeTask | StagingTask): DecodeResult {
  const result = decodeBatch(task);
  if ('stage' in task) result.payload = payloadOf(task, rehydrate(result, { copy: true }));
  return result;
}

/**
 * The same task inline (`workers: 0`), on the main thread: nothing crosses a thread, so the
 * changes are rehydrated once, in place, and the payload is encoded from them.
 */
export function decodeInline(task: DecodeTask | StagingTask): { changes: DecodedChange[]; payload?: StagedPayload } {
  const changes = rehydrate(decodeBatch(task));
  return 'stage' in task ? { changes, payload: payloadOf(task, changes) } : { changes };
}

function payloadOf(task: StagingTask, changes: DecodedChange[]): StagedPayload {
  const { pipeline, partBytes } = task.stage;
  const batch = scopeBatch(batchFrom(task.transactions, changes), pipeline);
  return { batch: batch.id, partBytes, parts: encodeBatch(batch, partBytes).map(owning) };
}

/**
 * A small Buffer is a view on Node's shared pool: moving that ArrayBuffer out of a worker would
 * detach the pool under every other Buffer in it. Such a part is copied into its own.
 */
function owning(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer ? b : new Uint8Array(b);
}
