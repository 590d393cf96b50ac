import type { Registry } from 'prom-client';

/** One labelled value of a prom-client metric. */
export interface Series {
  labels: Record<string, string | number>;
  value: number;
}

/** The current values of a metric in the registry ([] when it is not registered). */
export async function seriesOf(registry: Registry, name: string): Promise<Series[]> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return [];
  const got = await metric.get();
  return got.values.map((v) => ({ labels: { ...v.labels } as Record<string, string | number>, value: v.value }));
}

/** A metric's value summed over its labels (the value itself for an unlabelled one; 0 when absent). */
export async function valueOf(registry: Registry, name: string): Promise<number> {
  return (await seriesOf(registry, name)).reduce((n, v) => n + v.value, 0);
}

/** A fixed-size ring of timestamped samples: the last `capacity` of them, oldest first. */
export class Ring {
  private readonly items: [number, number][] = [];

  constructor(private readonly capacity: number) {}

  push(at: number, value: number): void {
    this.items.push([at, value]);
    if (this.items.length > this.capacity) this.items.shift();
  }

  values(): [number, number][] {
    return this.items.map(([t, v]) => [t, v]);
  }
}

export interface TableRate {
  table: string;
  op: string;
  /** Rows per second over the rate window. */
  perSecond: number;
  /** Rows committed since sdl started. */
  total: number;
}

/**
 * Rows per second by table and op from the `sdl_table_rows_total` counter: the difference
 * between now and the oldest reading within `windowMs`, so the number follows load within a
 * few seconds and does not jump on every batch.
 */
export class RateWindow {
  private readings: { at: number; totals: Map<string, number> }[] = [];

  constructor(private readonly windowMs: number) {}

  add(at: number, series: Series[]): TableRate[] {
    const totals = new Map<string, number>();
    for (const s of series) totals.set(`${String(s.labels['table'])}\u0000${String(s.labels['op'])}`, s.value);
    this.readings.push({ at, totals });
    this.readings = this.readings.filter((r) => r.at >= at - this.windowMs);
    const first = this.readings[0];
    const span = first === undefined ? 0 : (at - first.at) / 1000;
    const out: TableRate[] = [];
    for (const [key, total] of totals) {
      const [table = '', op = ''] = key.split('\u0000');
      const then = first?.totals.get(key) ?? 0;
      out.push({ table, op, total, perSecond: span > 0 ? (total - then) / span : 0 });
    }
    return out.sort((a, b) => a.table.localeCompare(b.table) || a.op.localeCompare(b.op));
  }
}
