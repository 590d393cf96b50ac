import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { rehydrate } from '../decode/rehydrate.js';
import type { DecodeCapabilities, DecodeResult, DecodeTask, StagedPayload, StagePlan, StagingTask } from '../decode/wire.js';
import { decodeInline } from '../mongo/staged-payload.js';
import type { Part } from '../pipeline/batching.js';
import type { DecodedChange } from '../pipeline/types.js';

export interface DecoderOptions {
  /** 0 decodes inline on the main thread with the very same task function. */
  workers: number;
  caps: DecodeCapabilities;
  /** How long close() waits for running tasks before terminating the workers. */
  closeTimeoutMs?: number;
}

/**
 * The pool size `workers: auto` means. One batch is decoded at a time (the batcher's decode step
 * is sequential), so a second worker would idle: one worker where the main thread can hand
 * decoding to another core, inline decoding on one core, where a worker only adds the copy
 * to and from it (`node dist/bench/decoder.js` pinned to one core: the pool at 0.63–0.74× of inline).
 */
export function decoderWorkers(setting: number | 'auto', cpus = availableParallelism()): { workers: number; why: string } {
  if (setting !== 'auto') return { workers: setting, why: `workers: ${setting} (configured)` };
  return cpus >= 2
    ? { workers: 1, why: `workers: auto → 1 (${cpus} CPUs: decoding moves off the main thread; one batch decodes at a time, so more would idle)` }
    : { workers: 0, why: `workers: auto → 0 (${cpus} CPU: inline decoding, a worker would only add the copies)` };
}

/** Next to this module in dist/, so tests load exactly the file production loads. */
const WORKER_FILE = fileURLToPath(new URL('../workers/decode-batch.js', import.meta.url));

/** Decodes whole batches (one pool task per batch) into driver-ready DecodedChanges. */
export class Decoder {
  private readonly pool: Piscina<DecodeTask | StagingTask, DecodeResult> | undefined;
  private readonly caps: DecodeCapabilities;
  private closed = false;

  constructor(opts: DecoderOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 0) throw new RangeError(`workers must be an integer ≥ 0, got ${opts.workers}`);
    this.caps = { ...opts.caps };
    if (opts.workers > 0) {
      this.pool = new Piscina<DecodeTask | StagingTask, DecodeResult>({
        filename: WORKER_FILE,
        name: 'decodeMoving',
        minThreads: opts.workers,
        maxThreads: opts.workers,
        idleTimeout: Infinity,
        closeTimeout: opts.closeTimeoutMs ?? 30_000,
      });
      // Piscina reports a close timeout as an 'error' event; unhandled it would crash the process.
      this.pool.on('error', () => undefined);
    }
  }

  get workers(): number {
    return this.pool?.maxThreads ?? 0;
  }

  async decode(batch: Pick<DecodeTask, 'transactions'>): Promise<DecodedChange[]> {
    return (await this.run({ transactions: batch.transactions, caps: this.caps })).changes;
  }

  /**
   * One of the stream's batches, with its staging payload encoded by the decode task (in the
   * worker, or inline right after the changes are rehydrated).
   */
  async decodeStaged(parts: Part[], stage: StagePlan): Promise<{ changes: DecodedChange[]; payload: StagedPayload }> {
    const { changes, payload } = await this.run({ transactions: parts, caps: this.caps, stage });
    if (payload === undefined) throw new Error('decode task returned no staging payload');
    return { changes, payload };
  }

  private async run(task: DecodeTask | StagingTask): Promise<{ changes: DecodedChange[]; payload?: StagedPayload | undefined }> {
    if (this.closed) throw new Error('decoder is closed');
    if (this.pool === undefined) return decodeInline(task);
    const result = await this.pool.run(task);
    return { changes: rehydrate(result), payload: result.payload };
  }

  /** Waits for running tasks (up to closeTimeoutMs), then stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool?.close();
  }
}
