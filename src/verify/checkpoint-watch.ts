import type { Db } from 'mongodb';
import { readCheckpoint } from '../mongo/offsets.js';
import { positionOrder } from '../pipeline/sequence.js';
import type { SourcePosition } from '../pipeline/types.js';

/** How far a pipeline's mirrors have caught up, read from its checkpoint. */
export class CheckpointWatch {
  private readonly stallMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly db: Db,
    private readonly pipeline: string,
    opts: { stallMs?: number; pollMs?: number } = {},
  ) {
    this.stallMs = opts.stallMs ?? 10_000;
    this.pollMs = opts.pollMs ?? 200;
  }

  /** The pipeline's source epoch: every `_sdl.pos` it writes now starts with it. */
  async epoch(): Promise<number> {
    return (await readCheckpoint(this.db, this.pipeline))?.position.epoch ?? 0;
  }

  /**
   * Resolves once the checkpoint is at or past `pos` (every change up to it is in the
   * mirrors), or once it has not moved for `stallMs` (no sdl is running, or it is stuck: what
   * the mirrors hold then is what a reader gets). Returns whether `pos` was reached.
   */
  async reach(pos: SourcePosition): Promise<boolean> {
    const want = positionOrder(pos);
    let last = '';
    let since = performance.now();
    for (;;) {
      const cp = await readCheckpoint(this.db, this.pipeline);
      const at = cp === null ? '' : positionOrder(cp.position);
      // The same GTID state is the same point too: an idle source's view may sit past the last
      // applied transaction's end by events that are no transaction (a rotate, a checkpoint).
      if (at >= want || (pos.gtid !== undefined && pos.gtid !== '' && cp?.position.gtid === pos.gtid)) return true;
      if (at !== last) {
        last = at;
        since = performance.now();
      } else if (performance.now() - since >= this.stallMs) {
        return false;
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }
}
