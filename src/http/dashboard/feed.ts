import type { ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { LiveSnapshot, LiveState } from './live-state.js';
import { RateWindow, Ring, seriesOf, valueOf, type TableRate } from './samples.js';
import type { StoreFacts } from './store-poll.js';

/** Everything the page shows, sent whole on every update (a few kB; the page just redraws). */
export interface Frame extends LiveSnapshot {
  at: number;
  pipeline: string;
  /** This instance's lease owner id, to tell "us" from a standby's view. */
  owner: string;
  /** Lag as of the last commit, when that was (null before the first), and the last hour's samples. */
  lag: { seconds: number; lastCommitAt: number | null; samples: [number, number][] };
  rates: TableRate[];
  rowsTotal: number;
  deadLettersThisRun: number;
  store: StoreFacts | null;
  /** Why the last MongoDB read failed, while it fails. */
  storeError: string | null;
  snapshot: {
    running: boolean;
    tables: { table: string; rows: number; estimated: number }[];
    rowsPerSecond: number;
    etaSeconds: number;
  };
}

export interface FeedOptions {
  registry: Registry;
  live: LiveState;
  pipeline: string;
  owner: string;
  /** Reads MongoDB's part; polled only while someone watches. */
  readStore?: () => Promise<StoreFacts>;
  /** A frame at least this often (ms). */
  tickMs?: number;
  /** One lag sample this often; the ring holds an hour of them. */
  lagSampleMs?: number;
  storeEveryMs?: number;
}

const HOUR_MS = 3_600_000;

/**
 * The dashboard's Server-Sent Events: a frame per second and one soon after any machine
 * changes state (at most every 100 ms, so a committer writing hundreds of batches a second
 * does not flood the page). Lag is sampled all the time, so the page has the last hour
 * however late it is opened; MongoDB is asked only while a page is open.
 */
export class DashboardFeed {
  private readonly clients = new Set<ServerResponse>();
  private readonly lagRing: Ring;
  private readonly rates = new RateWindow(5000);
  private lastRates: TableRate[] = [];
  private batches = 0;
  private lastCommitAt: number | null = null;
  private store: StoreFacts | null = null;
  private storeError: string | null = null;
  private storeBusy = false;
  private lastStoreAt = 0;
  private pending: NodeJS.Timeout | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly unsubscribe: () => void;
  private readonly tickMs: number;
  private readonly storeEveryMs: number;

  constructor(private readonly opts: FeedOptions) {
    this.tickMs = opts.tickMs ?? 1000;
    this.storeEveryMs = opts.storeEveryMs ?? 5000;
    const lagEvery = opts.lagSampleMs ?? 5000;
    this.lagRing = new Ring(Math.ceil(HOUR_MS / lagEvery));
    this.timers.push(setInterval(() => void this.sampleLag(), lagEvery).unref());
    this.timers.push(setInterval(() => void this.tick(), this.tickMs).unref());
    this.unsubscribe = opts.live.onChange(() => this.soon());
    void this.sampleLag();
  }

  /** `GET /events`: an SSE stream of frames until the client goes. */
  subscribe(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    // The page reconnects on its own after a drop; ask it to try every 2 s.
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    void this.send([res]);
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    if (this.pending !== undefined) clearTimeout(this.pending);
    this.unsubscribe();
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  private soon(): void {
    if (this.pending !== undefined || this.clients.size === 0) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.send([...this.clients]);
    }, 100);
  }

  private async sampleLag(): Promise<void> {
    this.lagRing.push(Date.now(), await valueOf(this.opts.registry, 'sdl_lag_seconds'));
  }

  private async tick(): Promise<void> {
    // The lag gauge moves only when a batch commits: say how old it is, so an outage does not look like no lag.
    const batches = await valueOf(this.opts.registry, 'sdl_batches_committed_total');
    if (batches !== this.batches) {
      this.batches = batches;
      this.lastCommitAt = Date.now();
    }
    this.lastRates = this.rates.add(Date.now(), await seriesOf(this.opts.registry, 'sdl_table_rows_total'));
    if (this.clients.size === 0) return;
    this.pollStore();
    await this.send([...this.clients]);
  }

  private pollStore(): void {
    const read = this.opts.readStore;
    if (read === undefined || this.storeBusy || Date.now() - this.lastStoreAt < this.storeEveryMs) return;
    this.storeBusy = true;
    // A reader that throws at once (no MongoDB client yet, before prepare) must not escape the timer and end sdl.
    Promise.resolve().then(read).then(
      (facts) => {
        this.store = facts;
        this.storeError = null;
      },
      (err: unknown) => {
        this.storeError = err instanceof Error ? err.message : String(err);
      },
    ).finally(() => {
      this.storeBusy = false;
      this.lastStoreAt = Date.now();
    });
  }

  async frame(): Promise<Frame> {
    const { registry } = this.opts;
    const [lag, rowsTotal, deadLettersThisRun, running, snapRows, snapEstimated, rowsPerSecond, etaSeconds] = await Promise.all([
      valueOf(registry, 'sdl_lag_seconds'),
      valueOf(registry, 'sdl_rows_committed_total'),
      valueOf(registry, 'sdl_dead_letters_total'),
      valueOf(registry, 'sdl_snapshot_running'),
      seriesOf(registry, 'sdl_snapshot_rows'),
      seriesOf(registry, 'sdl_snapshot_rows_estimated'),
      valueOf(registry, 'sdl_snapshot_rows_per_second'),
      valueOf(registry, 'sdl_snapshot_eta_seconds'),
    ]);
    const estimated = new Map(snapEstimated.map((s) => [String(s.labels['table']), s.value]));
    return {
      ...this.opts.live.snapshot(),
      at: Date.now(),
      pipeline: this.opts.pipeline,
      owner: this.opts.owner,
      lag: { seconds: lag, lastCommitAt: this.lastCommitAt, samples: this.lagRing.values() },
      rates: this.lastRates,
      rowsTotal,
      deadLettersThisRun,
      store: this.store,
      storeError: this.storeError,
      snapshot: {
        running: running === 1,
        tables: snapRows.map((s) => ({ table: String(s.labels['table']), rows: s.value, estimated: estimated.get(String(s.labels['table'])) ?? 0 })),
        rowsPerSecond,
        etaSeconds,
      },
    };
  }

  private async send(to: ServerResponse[]): Promise<void> {
    if (to.length === 0) return;
    const data = `data: ${JSON.stringify(await this.frame())}\n\n`;
    for (const c of to) if (!c.writableEnded) c.write(data);
  }
}
