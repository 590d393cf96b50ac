/** A small Prometheus text-format registry: counters and gauges, no labels beyond a fixed set. */
export class Metrics {
  private readonly counters = new Map<string, { help: string; value: number }>();
  private readonly gauges = new Map<string, { help: string; value: number }>();

  counter(name: string, help: string): (by?: number) => void {
    const c = { help, value: 0 };
    this.counters.set(name, c);
    return (by = 1) => {
      c.value += by;
    };
  }

  gauge(name: string, help: string): (value: number) => void {
    const g = { help, value: 0 };
    this.gauges.set(name, g);
    return (value) => {
      g.value = value;
    };
  }

  value(name: string): number | undefined {
    return this.counters.get(name)?.value ?? this.gauges.get(name)?.value;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, c] of this.counters) lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`, `${name} ${c.value}`);
    for (const [name, g] of this.gauges) lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.value}`);
    return lines.join('\n') + '\n';
  }
}

/** The pipeline's metrics, named once so every writer uses the same series. */
export function pipelineMetrics(m: Metrics) {
  return {
    rowsCommitted: m.counter('sdl_rows_committed_total', 'Row changes committed to MongoDB'),
    batchesCommitted: m.counter('sdl_batches_committed_total', 'Batches committed (checkpoint advanced or chunk applied)'),
    duplicatesIgnored: m.counter('sdl_event_duplicates_total', 'Event-log inserts that already existed (replays after a restart)'),
    deadLetters: m.counter('sdl_dead_letters_total', 'Row changes MongoDB rejected, written to dead_letters'),
    retries: m.counter('sdl_retries_total', 'Transient failures retried'),
    lagSeconds: m.gauge('sdl_lag_seconds', 'Source commit time of the last committed transaction, seconds behind now'),
    degraded: m.gauge('sdl_degraded', '1 while a child retries a transient failure'),
  };
}
export type PipelineMetrics = ReturnType<typeof pipelineMetrics>;
