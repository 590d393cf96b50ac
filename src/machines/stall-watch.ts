import type { InspectionEvent } from 'xstate';
import type { Logger } from '../log.js';
import { actorName, dottedState } from './system.js';

/**
 * States that do one piece of work and leave when it is done. Resting states (idle, streaming,
 * paused, backoff, degraded) can last any time; one of these lasting minutes means a step that
 * never settles (a MongoDB or MySQL call with no answer), which nothing else would report:
 * the process stays up, healthy-looking, and replicates nothing.
 */
export const WORKING_STATES: Readonly<Record<string, readonly string[]>> = {
  committer: ['recovering', 'writing', 'checkpointing'],
  batcher: ['flushing'],
  reader: ['online.connecting'],
  // Not the supervisor's `starting`: a standby waits there for the lease, and the initial
  // snapshot runs there, each for as long as it takes.
};

interface Entered {
  machine: string;
  state: string;
  since: number;
  /** When to warn next: after `stallMs`, then at every doubling of the time spent. */
  warnAt: number;
}

/**
 * Watches the actor tree's inspection stream and logs a warning when a machine has stayed in
 * one of its working states longer than `stallMs` (again at 2×, 4×, … that time), naming the
 * machine, the state and for how long. It changes nothing: a long DDL or a huge transaction's
 * apply can legitimately take minutes, and the warning says so.
 */
export class StallWatch {
  private readonly current = new Map<string, Entered>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly log: Logger, private readonly stallMs = 120_000, private readonly now: () => number = Date.now) {
    this.timer = setInterval(() => this.check(), Math.max(1000, Math.floor(stallMs / 4)));
    this.timer.unref();
  }

  readonly observe = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.snapshot') return;
    const snap = ev.snapshot as { value?: unknown; status?: string };
    const id = (ev.actorRef as unknown as { id: string }).id;
    const machine = actorName(ev.actorRef);
    const working = WORKING_STATES[machine];
    const state = snap.value === undefined ? undefined : dottedState(snap.value);
    if (working === undefined || snap.status !== 'active' || state === undefined || !working.includes(state)) {
      this.current.delete(id);
      return;
    }
    if (this.current.get(id)?.state === state) return;
    const since = this.now();
    this.current.set(id, { machine, state, since, warnAt: since + this.stallMs });
  };

  /** Exported for tests: runs the check the timer runs. */
  check(): void {
    const now = this.now();
    for (const e of this.current.values()) {
      if (now < e.warnAt) continue;
      const seconds = Math.round((now - e.since) / 1000);
      this.log.warn({ machine: e.machine, state: e.state, seconds }, `${e.machine} has been ${e.state} for ${seconds} s: a step that does not finish (a server that accepted a request and never answered?) or a very large one`);
      e.warnAt = e.since + 2 * (now - e.since);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
