import type { PipelineMetrics } from '../http/metrics.js';
import type { Logger } from '../log.js';
import { ProgressBar, type BarOutput } from './progress-bar.js';

export interface TableEstimate {
  name: string;
  /** The source's estimate (InnoDB samples it: it can be off by tens of percent). */
  rows: number;
}

/**
 * What a person watching a snapshot sees: a line when a table starts and ends, and every
 * `intervalMs` a line with the table, rows done of estimated, rows/s and ETA; the same
 * figures in `/metrics`. With `bar` (stderr is a terminal) those periodic lines become one
 * progress bar redrawn in place (every `barMs`); the start and end lines stay in the log.
 */
export class SnapshotPace {
  private readonly estimates: Map<string, number>;
  private table = '';
  private tableRows = 0;
  private totalRows: number;
  private lastAt = performance.now();
  private lastTotal: number;
  private rate = 0;
  private readonly bar: ProgressBar | undefined;
  private lastDrawn = 0;

  constructor(
    private readonly log: Logger,
    private readonly metrics: PipelineMetrics['snapshot'] | undefined,
    tables: readonly TableEstimate[],
    rowsAlreadyDone: number,
    private readonly intervalMs = 5000,
    bar?: BarOutput,
    private readonly barMs = 250,
  ) {
    this.bar = bar === undefined ? undefined : new ProgressBar(bar);
    this.estimates = new Map(tables.map((t) => [t.name, t.rows]));
    this.totalRows = rowsAlreadyDone;
    this.lastTotal = rowsAlreadyDone;
    metrics?.running(true);
  }

  startTable(name: string, rowsDone: number): void {
    this.table = name;
    this.tableRows = rowsDone;
    this.log.info({ table: name, rows: rowsDone, estimated: this.estimate(name) }, rowsDone > 0 ? `snapshot: resuming ${name} after ${rowsDone} rows` : `snapshot: copying ${name}`);
    this.metrics?.table(name, rowsDone, this.estimate(name));
  }

  add(rows: number): void {
    this.tableRows += rows;
    this.totalRows += rows;
    this.metrics?.table(this.table, this.tableRows, this.estimate(this.table));
    const now = performance.now();
    if (this.bar !== undefined && now - this.lastDrawn >= this.barMs) {
      this.lastDrawn = now;
      // The rate over the last interval once there is one; since the start of this view before.
      const rate = this.rate > 0 ? this.rate : ((this.totalRows - this.lastTotal) * 1000) / Math.max(1, now - this.lastAt);
      this.bar.draw({ table: this.table, rows: this.tableRows, estimated: this.estimate(this.table), rowsPerSecond: rate, etaSeconds: this.eta(rate) });
    }
    if (now - this.lastAt < this.intervalMs) return;
    this.rate = ((this.totalRows - this.lastTotal) * 1000) / (now - this.lastAt);
    this.lastAt = now;
    this.lastTotal = this.totalRows;
    const eta = this.eta();
    this.metrics?.pace(this.rate, eta);
    if (this.bar !== undefined) return;
    this.log.info(
      { table: this.table, rows: this.tableRows, estimated: this.estimate(this.table), rowsPerSecond: Math.round(this.rate), etaSeconds: Math.round(eta) },
      `snapshot: ${this.table} ${this.tableRows} of ~${this.estimate(this.table)} rows, ${Math.round(this.rate)} rows/s, ETA ${Math.round(eta)} s`,
    );
  }

  endTable(): void {
    // Once copied, the table's real count replaces the estimate in the ETA.
    this.estimates.set(this.table, this.tableRows);
    this.metrics?.table(this.table, this.tableRows, this.tableRows);
    this.bar?.end();
    this.log.info({ table: this.table, rows: this.tableRows }, `snapshot: ${this.table} copied (${this.tableRows} rows)`);
  }

  finish(): void {
    this.bar?.end();
    this.metrics?.pace(0, 0);
    this.metrics?.running(false);
  }

  private estimate(name: string): number {
    return this.estimates.get(name) ?? 0;
  }

  private eta(rate = this.rate): number {
    let total = 0;
    for (const n of this.estimates.values()) total += n;
    return rate > 0 ? Math.max(0, total - this.totalRows) / rate : 0;
  }
}
