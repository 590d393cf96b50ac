import type { Registry } from 'prom-client';
import { seriesOf, valueOf } from './dashboard/samples.js';
import type { ErrorInfo } from '../errors.js';
import type { Concern } from '../mongo/write-concern.js';
import type { StoredStatus } from '../mongo/stored-status.js';
import { dottedState } from '../machines/system.js';

/** The machines `/status` reports, by systemId. */
const MACHINES = ['supervisor', 'reader', 'batcher', 'committer'] as const;
type MachineName = (typeof MACHINES)[number];

/** A machine as its own snapshot has it now. */
export interface MachineStatus {
  /** Its state value, dotted (`active.running.healthy`); null before the machine exists. */
  state: string | null;
  /** Backoffs in a row for the failure it is retrying now; 0 once it got past it. */
  attempt: number;
  /** The last failure it met (kept after recovery), with its class. */
  lastError: ErrorInfo | null;
  /** Every backoff this machine took since start (`sdl_retries_total`). */
  retries: number;
}

/** `GET /status`: what the running instance is doing, and what MongoDB says when it answers. */
export interface LiveStatus {
  source: 'instance';
  pipeline: string;
  pid: number;
  startedAt: string;
  /** This instance's lease owner id; `lease.holder` names who writes. */
  owner: string;
  ready: boolean;
  degraded: string[];
  machines: Record<MachineName, MachineStatus>;
  /** The failure met most recently by any machine, with its machine and retry counts. */
  lastError: (ErrorInfo & { machine: MachineName; attempt: number; retries: number }) | null;
  /** Seconds behind the source as of the last commit (`sdl_lag_seconds`); null before one. */
  lagSeconds: number | null;
  rowsCommitted: number;
  /** Rows committed per second over the last RATE_WINDOW_MS. */
  rowsPerSecond: number;
  batchesCommitted: number;
  deadLettersThisRun: number;
  writeConcern: Concern | null;
  lease: { thisInstance: boolean; holder: string | null; term: number | null; expiresAt: string | null };
  /** MongoDB's part (checkpoint, staging, dead letters); null with `storedError` when MongoDB did not answer. */
  stored: StoredStatus | null;
  storedError: string | null;
}

/** What a machine's snapshot exposes (context fields the machines keep). */
export interface MachineSnapshot {
  value: unknown;
  context?: { attempt?: number; lastError?: ErrorInfo; error?: ErrorInfo; degraded?: string[] };
}

export interface LiveStatusDeps {
  pipeline: string;
  owner: string;
  registry: Registry;
  /** The machine's current snapshot by systemId; undefined while it does not exist. */
  snapshot: (machine: MachineName) => MachineSnapshot | undefined;
  ready: () => boolean;
  writeConcern: () => Concern | undefined;
  /** The lease this instance holds, if any. */
  lease: () => { term: number } | undefined;
  /** MongoDB's part; its failure is reported, not thrown. */
  stored: () => Promise<StoredStatus>;
}

const RATE_WINDOW_MS = 10_000;
const SAMPLE_MS = 1000;
const STORED_WAIT_MS = 2000;

/**
 * The `/status` document, built on request from the machines' own snapshots (state, attempt,
 * last error), the metrics registry (lag, counts, retries) and a bounded MongoDB read. A sampler
 * keeps rows-committed readings of the last RATE_WINDOW_MS for the rate; stop() ends it.
 */
export function liveStatus(deps: LiveStatusDeps): { read: () => Promise<LiveStatus>; stop: () => void } {
  const startedAt = new Date().toISOString();
  const samples: [number, number][] = [];
  const sample = async (): Promise<void> => {
    const now = Date.now();
    samples.push([now, await valueOf(deps.registry, 'sdl_rows_committed_total')]);
    while (samples.length > 0 && (samples[0]?.[0] ?? now) < now - RATE_WINDOW_MS) samples.shift();
  };
  const timer = setInterval(() => void sample(), SAMPLE_MS).unref();
  void sample();

  const read = async (): Promise<LiveStatus> => {
    await sample();
    const retriesBy = new Map((await seriesOf(deps.registry, 'sdl_retries_total')).map((v) => [String(v.labels['machine']), v.value]));
    const machines = {} as Record<MachineName, MachineStatus>;
    let lastError: LiveStatus['lastError'] = null;
    for (const name of MACHINES) {
      const snap = deps.snapshot(name);
      const ctx = snap?.context ?? {};
      const error = (name === 'supervisor' ? ctx.error : ctx.lastError) ?? null;
      const m: MachineStatus = { state: snap === undefined ? null : dottedState(snap.value), attempt: ctx.attempt ?? 0, lastError: error, retries: retriesBy.get(name) ?? 0 };
      machines[name] = m;
      // A machine retrying now outranks one that recovered; among equals, the one that retried most.
      if (error !== null && (lastError === null || m.attempt > lastError.attempt || (m.attempt === lastError.attempt && m.retries > lastError.retries))) {
        lastError = { ...error, machine: name, attempt: m.attempt, retries: m.retries };
      }
    }
    const [first, last] = [samples[0], samples[samples.length - 1]];
    const rowsPerSecond = first !== undefined && last !== undefined && last[0] > first[0] ? ((last[1] - first[1]) * 1000) / (last[0] - first[0]) : 0;
    const batchesCommitted = await valueOf(deps.registry, 'sdl_batches_committed_total');
    let stored: StoredStatus | null = null;
    let storedError: string | null = null;
    try {
      // Server selection (seconds while MongoDB is down) is not bounded by maxTimeMS: race it.
      stored = await Promise.race([
        deps.stored(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`MongoDB did not answer within ${STORED_WAIT_MS} ms`)), STORED_WAIT_MS).unref()),
      ]);
    } catch (err) {
      storedError = err instanceof Error ? err.message : String(err);
    }
    const held = deps.lease();
    return {
      source: 'instance',
      pipeline: deps.pipeline,
      pid: process.pid,
      startedAt,
      owner: deps.owner,
      ready: deps.ready(),
      degraded: [...(deps.snapshot('supervisor')?.context?.degraded ?? [])],
      machines,
      lastError,
      lagSeconds: batchesCommitted > 0 ? await valueOf(deps.registry, 'sdl_lag_seconds') : null,
      rowsCommitted: last?.[1] ?? 0,
      rowsPerSecond: Math.round(rowsPerSecond * 10) / 10,
      batchesCommitted,
      deadLettersThisRun: await valueOf(deps.registry, 'sdl_dead_letters_total'),
      writeConcern: deps.writeConcern() ?? null,
      lease: {
        thisInstance: held !== undefined,
        holder: held !== undefined ? deps.owner : (stored?.lease?.owner ?? null),
        term: held?.term ?? stored?.lease?.term ?? null,
        expiresAt: stored?.lease?.expiresAt.toISOString() ?? null,
      },
      stored,
      storedError,
    };
  };
  return { read, stop: () => clearInterval(timer) };
}
