import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { InspectionEvent } from 'xstate';
import { actorName } from '../machines/system.js';

/** The pipeline's series, named once so every writer uses the same ones (prom-client registry). */
export function pipelineMetrics(registry: Registry = new Registry()) {
  collectDefaultMetrics({ register: registry, prefix: 'sdl_' });
  const counter = (name: string, help: string, labelNames: string[] = []): Counter => new Counter({ name, help, labelNames, registers: [registry] });
  const gauge = (name: string, help: string, labelNames: string[] = []): Gauge => new Gauge({ name, help, labelNames, registers: [registry] });
  const rows = counter('sdl_rows_committed_total', 'Row changes committed to MongoDB');
  const tableRows = counter('sdl_table_rows_total', 'Row changes committed to MongoDB by the streaming pipeline, by source table (db.table) and op (c, u, d)', ['table', 'op']);
  const batches = counter('sdl_batches_committed_total', 'Batches committed (checkpoint advanced or chunk applied)');
  const duplicates = counter('sdl_event_duplicates_total', 'Event-log inserts that already existed (replays after a restart)');
  const deadLetters = counter('sdl_dead_letters_total', 'Row changes MongoDB rejected, written to dead_letters');
  const retries = counter('sdl_retries_total', 'Transient failures retried, by the machine that backed off', ['machine']);
  // Computed when scraped: a pipeline that stops committing falls further behind on every scrape
  // instead of showing the lag of its last commit forever. An idle source commits the server's
  // heartbeat positions, so a healthy idle pipeline stays near zero.
  let committedSourceTs: number | undefined;
  new Gauge({
    name: 'sdl_lag_seconds',
    help: 'Seconds between now and the source commit time of the newest position committed (0 before the first commit)',
    registers: [registry],
    collect() {
      if (committedSourceTs !== undefined) this.set(Math.max(0, (Date.now() - committedSourceTs) / 1000));
    },
  });
  const degraded = gauge('sdl_degraded', '1 while a child of the supervisor retries a transient failure');
  const state = gauge('sdl_machine_state', '1 for the state each machine is in now (top-level state name)', ['machine', 'state']);
  const snapshotRows = gauge('sdl_snapshot_rows', 'Snapshot (initial, or online of one table): rows copied, by table', ['table']);
  const snapshotEstimated = gauge('sdl_snapshot_rows_estimated', 'Snapshot (initial, or online of one table): rows the source estimates, by table (information_schema.TABLES.TABLE_ROWS)', ['table']);
  const snapshotRate = gauge('sdl_snapshot_rows_per_second', 'Snapshot (initial, or online of one table): copy rate over the last progress interval');
  const snapshotEta = gauge('sdl_snapshot_eta_seconds', 'Snapshot (initial, or online of one table): estimated seconds until every table is copied');
  const snapshotActive = gauge('sdl_snapshot_running', '1 while a snapshot (initial, or online of one table) copies');
  const writeConcern = gauge('sdl_write_concern_info', 'The write concern every MongoDB write uses: 1 for the one in use (j is "default" when the server decides)', ['w', 'j']);
  return {
    registry,
    rowsCommitted: (by = 1): void => rows.inc(by),
    /** Counts a committed batch's changes by table and op (the dashboard's rows/s). */
    tableRowsCommitted: (changes: readonly { db: string; table: string; op: string }[]): void => {
      const counts = new Map<string, { table: string; op: string; n: number }>();
      for (const c of changes) {
        const k = `${c.db}.${c.table}\u0000${c.op}`;
        const e = counts.get(k);
        if (e === undefined) counts.set(k, { table: `${c.db}.${c.table}`, op: c.op, n: 1 });
        else e.n++;
      }
      for (const e of counts.values()) tableRows.inc({ table: e.table, op: e.op }, e.n);
    },
    batchesCommitted: (by = 1): void => batches.inc(by),
    duplicatesIgnored: (by = 1): void => duplicates.inc(by),
    deadLetters: (by = 1): void => deadLetters.inc(by),
    /** A batch ending at a source position committed; `sourceTs` is that position's source commit time (ms). */
    committedUpTo: (sourceTs: number): void => {
      committedSourceTs = Math.max(committedSourceTs ?? 0, sourceTs);
    },
    /** The write concern decided at start (src/mongo/write-concern.ts). */
    writeConcern: (c: { w: number | string; j?: boolean }): void => {
      writeConcern.reset();
      writeConcern.set({ w: String(c.w), j: c.j === undefined ? 'default' : String(c.j) }, 1);
    },
    snapshot: {
      table: (table: string, rows: number, estimated: number): void => {
        snapshotRows.set({ table }, rows);
        snapshotEstimated.set({ table }, estimated);
      },
      pace: (rowsPerSecond: number, etaSeconds: number): void => {
        snapshotRate.set(rowsPerSecond);
        snapshotEta.set(etaSeconds);
      },
      running: (on: boolean): void => snapshotActive.set(on ? 1 : 0),
    },
    /** Fed with the actor system's inspection events: machine states, degraded, and retries. */
    observe: machineObserver(retries, degraded, state),
  };
}
export type PipelineMetrics = ReturnType<typeof pipelineMetrics>;

/** Where a machine is, as the metrics see it: its state value with the top level first. */
function stateNames(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => [k, ...stateNames(v)]);
  }
  return [];
}

function machineObserver(retries: Counter, degraded: Gauge, state: Gauge): (ev: InspectionEvent) => void {
  const current = new Map<string, string>();
  return (ev) => {
    if (ev.type !== '@xstate.snapshot') return;
    const snap = ev.snapshot as { value?: unknown };
    if (snap.value === undefined) return;
    const machine = actorName(ev.actorRef);
    const names = stateNames(snap.value);
    const top = names.join('.');
    const before = current.get(machine);
    if (before === top) return;
    current.set(machine, top);
    if (before !== undefined) state.set({ machine, state: before }, 0);
    state.set({ machine, state: top }, 1);
    // Every retry of a transient failure passes through a backoff state, in reader and committer alike.
    if (names.includes('backoff') && !(before ?? '').split('.').includes('backoff')) retries.inc({ machine });
    if (machine === 'supervisor') degraded.set(names.includes('degraded') ? 1 : 0);
  };
}
