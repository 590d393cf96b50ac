import type { StagedPayload } from '../decode/wire.js';
import type { Batch } from '../pipeline/types.js';

/** What staging one batch wrote (see Staging.stageBatch). */
export interface Staged {
  parts: number;
  bytes: number;
}

/**
 * Stages batch n+1 while the committer applies batch n: the batcher's decode step calls
 * `ahead()` for each batch it hands on, in hand-on order, and the committer's write step calls
 * `stagedOrStage()`, which only stages what was not staged ahead.
 *
 * Staging order must stay the order batches are applied in, because recovery re-applies pending
 * batches in staging order. So a batch is staged ahead only once the batch handed on before it
 * is staged (or already committed): staging of n+1 always starts after staging of n finished,
 * whoever staged either. A failed ahead-staging is not an error here: the batch (and every one
 * after it until the committer has staged it) is left for the committer, which stages it in its
 * turn with its own retries. A staged batch is never staged again before it is committed, so a
 * retried write cannot move it behind a later batch staged meanwhile.
 */
export class StageAhead {
  /** Batches staged and not yet committed, by id. */
  private readonly staged = new Map<string, Staged>();
  /** The batch handed on last, while it is not committed. */
  private previous: string | undefined;
  /** Batches staged ahead since start (for the step timings). */
  aheadCount = 0;

  constructor(private readonly stage: (batch: Batch, payload?: StagedPayload) => Promise<Staged>) {}

  /**
   * Batcher side, in hand-on order; never throws (a failure leaves the batch to the committer).
   * `payload` is the batch's staging encoding from its decode task; a batch left to the committer
   * is encoded again there, so the payload is never held past this call.
   */
  async ahead(batch: Batch, payload?: StagedPayload): Promise<boolean> {
    const inOrder = this.previous === undefined || this.staged.has(this.previous);
    this.previous = batch.id;
    // A slice of a streamed transaction is staged by the committer only: an open one as `open`,
    // the closing one after its group's open slices turned pending. Staged ahead as pending, a
    // crash could re-apply the closing batch without the slices before it.
    if (!inOrder || batch.slice !== undefined) return false;
    try {
      this.staged.set(batch.id, await this.stage(batch, payload));
      this.aheadCount++;
      return true;
    } catch {
      return false;
    }
  }

  /** Committer side: the staged copy of this batch, staging it now unless it was staged ahead. */
  async stagedOrStage(batch: Batch): Promise<Staged> {
    const done = this.staged.get(batch.id);
    if (done !== undefined) return done;
    const staged = await this.stage(batch);
    this.staged.set(batch.id, staged);
    return staged;
  }

  /** The batch is committed (checkpoint written, staged copy released). */
  committed(batchId: string): void {
    this.staged.delete(batchId);
    if (this.previous === batchId) this.previous = undefined;
  }

  /** A committer (re)starts with recovery, which re-applies every pending batch: nothing staged is known any more. */
  reset(): void {
    this.staged.clear();
    this.previous = undefined;
  }

  isStaged(batchId: string): boolean {
    return this.staged.has(batchId);
  }
}
