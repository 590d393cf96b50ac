import type { InspectionEvent } from 'xstate';
import type { ErrorInfo } from '../../errors.js';
import { actorName } from '../../machines/system.js';

/** The four long-lived machines the dashboard draws. */
export const MACHINES = ['supervisor', 'reader', 'batcher', 'committer'] as const;
export type MachineName = (typeof MACHINES)[number];

export interface MachineNow {
  /** XState state value (`'idle'`, `{ active: { running: 'healthy' } }`); null before the actor exists. */
  value: unknown;
  /** The actor's status: active, done (final state), stopped (its parent state was left). */
  status: 'active' | 'done' | 'error' | 'stopped' | 'absent';
  /** When it entered this state (ms since epoch). */
  since: number;
}

/** One failure a machine retried (or stopped on), collapsed while the same error repeats. */
export interface ErrorEntry {
  machine: MachineName;
  code: string;
  errorClass: string;
  message: string;
  /** Backoffs taken for this error in a row. */
  retries: number;
  firstAt: number;
  lastAt: number;
  /** When the machine got past it; undefined while it still retries. */
  recoveredAt?: number;
}

export interface LiveSnapshot {
  machines: Record<MachineName, MachineNow>;
  /** Children the supervisor counts as retrying a transient failure. */
  degraded: string[];
  errors: ErrorEntry[];
  /** Batches handed to the committer and not yet committed. */
  committerQueue: number;
  /** Bytes between the binlog and MongoDB (the batcher's in-flight estimate). */
  inFlightBytes: number;
  /** The reader stopped reading because too much is in flight. */
  readerThrottled: boolean;
}

const KEPT_ERRORS = 20;

interface Ctx {
  attempt?: number;
  lastError?: ErrorInfo;
  error?: ErrorInfo;
  degraded?: string[];
  queue?: unknown[];
  inFlight?: number;
  throttled?: boolean;
}

function isMachine(name: string): name is MachineName {
  return (MACHINES as readonly string[]).includes(name);
}

/** True when a state value has `name` anywhere in its path. */
function valueHas(value: unknown, name: string): boolean {
  if (typeof value === 'string') return value === name;
  if (value !== null && typeof value === 'object') return Object.entries(value as Record<string, unknown>).some(([k, v]) => k === name || valueHas(v, name));
  return false;
}

/**
 * What the actor system is doing now, kept from its inspection events (the same stream the
 * metrics and the transition log read): each machine's state, the supervisor's degraded list,
 * queue sizes, and the last errors with how often each was retried.
 */
export class LiveState {
  private readonly machines = new Map<MachineName, MachineNow>();
  private readonly errors: ErrorEntry[] = [];
  private degraded: string[] = [];
  private committerQueue = 0;
  private inFlightBytes = 0;
  private readerThrottled = false;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Called on every machine state change (not on every event). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  readonly observe = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.snapshot') return;
    const name = actorName(ev.actorRef);
    if (!isMachine(name)) return;
    const snap = ev.snapshot as { value?: unknown; status?: MachineNow['status']; context?: Ctx; error?: unknown };
    if (snap.value === undefined) return;
    const ctx = snap.context ?? {};
    const before = this.machines.get(name);
    const status = snap.status ?? 'active';
    const moved = before === undefined || JSON.stringify(before.value) !== JSON.stringify(snap.value) || before.status !== status;
    if (moved) this.machines.set(name, { value: snap.value, status, since: this.now() });
    if (name === 'committer') this.committerQueue = ctx.queue?.length ?? 0;
    if (name === 'batcher') this.inFlightBytes = ctx.inFlight ?? 0;
    if (name === 'reader') this.readerThrottled = ctx.throttled === true;
    if (name === 'supervisor') this.degraded = [...(ctx.degraded ?? [])];
    if (moved) this.noteErrors(name, snap.value, before?.value, name === 'supervisor' ? ctx.error : ctx.lastError, ctx.attempt ?? 0);
    if (moved) for (const l of this.listeners) l();
  };

  /**
   * Entering a backoff (or failed) state is one retry (or the stop) of the machine's last error.
   * Within one episode (until the machine gets past the failing step) each error code keeps one
   * row whose retries count up, so an outage that shows as two codes reads as two rows.
   */
  private noteErrors(machine: MachineName, value: unknown, before: unknown, error: ErrorInfo | undefined, attempt: number): void {
    const at = this.now();
    const retrying = valueHas(value, 'backoff') || valueHas(value, 'startBackoff');
    const enteredRetry = retrying && !(valueHas(before, 'backoff') || valueHas(before, 'startBackoff'));
    const failed = valueHas(value, 'failed') && !valueHas(before, 'failed');
    if ((enteredRetry || failed) && error !== undefined) {
      const open = this.errors.find((e) => e.machine === machine && e.recoveredAt === undefined && e.code === error.code);
      if (open !== undefined) {
        if (enteredRetry) open.retries++;
        open.lastAt = at;
        open.message = error.message;
        // Most recent first when shown: move it to the end.
        this.errors.splice(this.errors.indexOf(open), 1);
        this.errors.push(open);
      } else {
        this.errors.push({ machine, code: error.code, errorClass: error.errorClass, message: error.message, retries: enteredRetry ? 1 : 0, firstAt: at, lastAt: at });
        if (this.errors.length > KEPT_ERRORS) this.errors.shift();
      }
      return;
    }
    // Past the failing step: its attempt counter is back to 0 (every machine resets it on success).
    if (!retrying && attempt === 0 && !valueHas(value, 'failed')) {
      for (const e of this.errors) if (e.machine === machine && e.recoveredAt === undefined) e.recoveredAt = at;
    }
  }

  snapshot(): LiveSnapshot {
    const machines = {} as Record<MachineName, MachineNow>;
    for (const m of MACHINES) machines[m] = this.machines.get(m) ?? { value: null, status: 'absent', since: 0 };
    return {
      machines,
      degraded: [...this.degraded],
      errors: this.errors.map((e) => ({ ...e })).reverse(),
      committerQueue: this.committerQueue,
      inFlightBytes: this.inFlightBytes,
      readerThrottled: this.readerThrottled,
    };
  }
}
