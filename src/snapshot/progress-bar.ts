/** Where the bar is drawn: a terminal (stderr when it is a TTY). */
export interface BarOutput {
  write(s: string): unknown;
  columns?: number | undefined;
}

export interface BarFigures {
  table: string;
  rows: number;
  /** The source's estimate; 0 when unknown. */
  estimated: number;
  rowsPerSecond: number;
  etaSeconds: number;
}

/**
 * One line: `db.t [#####-----]  42% 4200/~10000 rows 1234 rows/s ETA 5s`, cut to `width`
 * columns. The estimate is InnoDB's sample, so the bar stops at 99% until the table is done
 * rather than claim a finish the count has not reached.
 */
export function renderBar(f: BarFigures, width = 80): string {
  const ratio = f.estimated > 0 ? Math.min(0.99, f.rows / f.estimated) : 0;
  const pct = `${String(Math.floor(ratio * 100)).padStart(3)}%`;
  const tail = ` ${pct} ${f.rows}/~${f.estimated} rows ${Math.round(f.rowsPerSecond)} rows/s ETA ${duration(f.etaSeconds)}`;
  const barWidth = Math.max(10, Math.min(30, width - f.table.length - tail.length - 3));
  const filled = Math.round(ratio * barWidth);
  const line = `${f.table} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`;
  return line.length > width ? line.slice(0, Math.max(0, width - 1)) + '…' : line;
}

/** Seconds as `42s`, `3m05s`, `2h07m`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Redraws one terminal line in place (carriage return, clear to end of line); `end` leaves it. */
export class ProgressBar {
  private drawn = false;

  constructor(private readonly out: BarOutput) {}

  draw(f: BarFigures): void {
    this.out.write(`\r${renderBar(f, (this.out.columns ?? 80) - 1)}\x1b[K`);
    this.drawn = true;
  }

  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
