/**
 * `make bench`: throughput, lag and memory of sdl against its ceilings, all in one run on the
 * same private MariaDB and MongoDB-wire servers. One JSON object per line on stdout; progress
 * on stderr. Reports only: nothing here asserts a timing.
 *
 * Scale with BENCH_ROWS (catch-up workload, default 200000 on MongoDB, 20000 on FerretDB),
 * BENCH_BEHIND_ROWS (rows written while MongoDB is stopped, default 1000000), BENCH_LAG_RATE
 * (row changes/s, default 500), BENCH_LAG_SECONDS (default 30), BENCH_TXN_ROWS (rows of the one
 * huge transaction, default 1000000; BENCH_TXN_WAIT_S, default 1800, bounds waiting for it to be
 * applied), BENCH_RUNS (comma list of
 * workers1, workers0, nostaging; the last one stays up for the lag and memory phases).
 * Last, on a table of BENCH_ROWS rows (1000000 is the figure): the raw SELECT rate, and
 * `sdl snapshot` and `sdl verify` of that table as ratios to it, with their peak RSS.
 * Beside the mixed load, a wide-row load (BENCH_WIDE_ROWS row changes of about 4 KB with JSON and
 * BLOB columns, default 3000 on FerretDB, 30000 on MongoDB; 0 skips it) gets its own sink ceiling
 * and end-to-end runs with workers0 and workers1 (those in BENCH_RUNS), where decoding weighs more.
 * BENCH_ONLY=snapshot runs only that phase (with BENCH_VERIFY_BASELINE=<another build's dist/src/cli/main.js>,
 * that build's `sdl verify` of the same table is timed right after, as `verify_baseline`); BENCH_ONLY=e2e stops after the end-to-end runs (no lag,
 * memory or snapshot phases). BENCH_PROFILE=DIR runs each sdl with `--cpu-prof` into DIR and keeps
 * its log there with per-batch step timings (`batch decoded`, `batch committed` at debug level).
 *
 * Why 5000 on FerretDB: FerretDB 1.24 (SQLite) scans the collection for every update by _id
 * (about 30–70 ms per mirror upsert at a few thousand documents), so its sink rate is tens of
 * rows per second and falls as the mirrors grow; 200k rows would take days there.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { FULL_CAPABILITIES } from '../src/decode/wire.js';
import { mirrorStrategyFor } from '../src/actors/committer-io.js';
import { probeCapabilities } from '../src/mongo/capabilities.js';
import { writeCheckpoint } from '../src/mongo/offsets.js';
import { DEFAULT_CHUNK, FERRETDB_CHUNK } from '../src/mongo/write-shape.js';
import { startStack } from '../test/support/stack.js';
import { measureLag } from './lag.js';
import { memoryOneTransaction, ONE_TXN_TABLE, untilStreaming } from './memory.js';
import { makeBatches, readTransactions } from './prebuild.js';
import { BenchSdl } from './sdl-run.js';
import { sinkCeiling } from './sink.js';
import { binlogEnd, readBinlogCounting } from './source.js';
import { snapshotAndVerify } from './snapshot-verify.js';
import { WIDE_SCHEMA, WideLoad } from './wide-workload.js';
import { BENCH_SCHEMA, MixedLoad, rowsOf } from './workload.js';

const env = (name: string, dflt: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : Number(v);
};
const BEHIND_ROWS = env('BENCH_BEHIND_ROWS', 1_000_000);
const LAG_RATE = env('BENCH_LAG_RATE', 500);
const LAG_SECONDS = env('BENCH_LAG_SECONDS', 30);
const TXN_ROWS = env('BENCH_TXN_ROWS', 1_000_000);
const TXN_WAIT_S = env('BENCH_TXN_WAIT_S', 1800);
const ONLY = process.env['BENCH_ONLY'] ?? '';
const PROFILE = process.env['BENCH_PROFILE'] ?? '';
/** Child-process environment for a profiled run: a CPU profile per process and per-batch step timings. */
const profiled = (name: string): { env?: Record<string, string>; nodeArgs?: string[] } =>
  PROFILE === '' ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`, `--cpu-prof-name=sdl-${name}.cpuprofile`], env: { SDL_LOG_LEVEL: 'debug' } };
const RUNS = (process.env['BENCH_RUNS'] ?? 'workers0,nostaging,workers1').split(',').map((s) => s.trim()).filter((s) => s !== '');

/** The end-to-end runs BENCH_RUNS may name (module scope, above the top-level awaits that use it). */
const configs: Record<string, { workers: number; staging: boolean }> = {
  workers1: { workers: 1, staging: true },
  workers0: { workers: 0, staging: true },
  nostaging: { workers: 1, staging: false },
};

const started = performance.now();
const progress = (msg: string): void => {
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
};
const report = (obj: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(obj) + '\n');
};
const r1 = (n: number): number => Math.round(n * 10) / 10;
const r3 = (n: number): number => Math.round(n * 1000) / 1000;

progress('starting MariaDB and the MongoDB-wire server');
const stack = await startStack();
const conn = await stack.mariadb.connect();
const client = new MongoClient(stack.mongo.url, { monitorCommands: process.env['BENCH_TRACE'] === '1' });
client.on('commandSucceeded', (e) => {
  if (e.duration > 500) progress(`  slow ${e.commandName}: ${Math.round(e.duration)} ms`);
});
try {
  const caps = await probeCapabilities(client, client.db('bench_probe'));
  // FerretDB writes mirrors two orders of magnitude slower than MongoDB: a smaller default keeps the run under ~15 min.
  const ROWS = env('BENCH_ROWS', caps.ferretdb !== undefined ? 20_000 : 200_000);
  report({
    metric: 'environment', node: process.version, cpus: (await import('node:os')).cpus().length, mongo: caps.ferretdb !== undefined ? `FerretDB ${caps.ferretdb}` : `MongoDB ${caps.version}`,
    transactions: caps.transactions, rows: ROWS, behind_rows: BEHIND_ROWS, lag_rate: LAG_RATE, lag_seconds: LAG_SECONDS, runs: RUNS,
  });

  if (ONLY !== '' && ONLY !== 'snapshot' && ONLY !== 'e2e') throw new Error(`BENCH_ONLY=${ONLY}: only "snapshot" or "e2e" can run alone`);
  if (ONLY === '' || ONLY === 'e2e') await streamingPhases(ROWS, caps);
  if (ONLY !== 'e2e') await snapshotPhase(ROWS);
} finally {
  await conn.end().catch(() => undefined);
  await client.close().catch(() => undefined);
  await stack.stop();
  progress('done');
}
process.exit(0);

/** 7. Initial snapshot and verify of one table, against the raw SELECT rate of the same table. */
async function snapshotPhase(rows: number): Promise<void> {
  const f = await snapshotAndVerify(stack, conn, client, rows, progress);
  report({ metric: 'select_stream', rows: f.rows, seconds: r3(f.select.seconds), rows_per_s: Math.round(f.select.rowsPerSecond) });
  for (const [metric, m] of [['snapshot', f.snapshot], ['verify', f.verify]] as const) {
    report({
      metric, rows: f.rows, seconds: r3(m.seconds), rows_per_s: Math.round(m.rowsPerSecond), ratio_to_select: r3(m.rowsPerSecond / f.select.rowsPerSecond), goal_ratio: 0.8,
      peak_rss_mb: r1(m.peakRssMb), hwm_rss_mb: r1(m.hwmRssMb), target_mb: 300, exit: m.exit,
    });
  }
  const b = f.verifyBaseline;
  if (b !== undefined) {
    report({
      metric: 'verify_baseline', cli: b.cli, rows: f.rows, seconds: r3(b.seconds), rows_per_s: Math.round(b.rowsPerSecond), ratio_to_select: r3(b.rowsPerSecond / f.select.rowsPerSecond),
      speedup: r3(f.verify.rowsPerSecond / b.rowsPerSecond), peak_rss_mb: r1(b.peakRssMb), hwm_rss_mb: r1(b.hwmRssMb), exit: b.exit,
    });
  }
}

async function streamingPhases(ROWS: number, caps: Awaited<ReturnType<typeof probeCapabilities>>): Promise<void> {
  // 1. The workload.
  await conn.query(BENCH_SCHEMA);
  const load = new MixedLoad(conn);
  let t = performance.now();
  progress(`loading ${ROWS} row changes`);
  await load.load(ROWS, (n) => progress(`  ${n} rows`));
  const loadSeconds = (performance.now() - t) / 1000;
  const end = await binlogEnd(conn);
  report({ metric: 'workload', rows: rowsOf(load.stats), ...load.stats, seconds: r3(loadSeconds), rows_per_s: Math.round(rowsOf(load.stats) / loadSeconds), binlog_end: end });

  // 2. Source ceiling: bare zongji, whole binlog, counting row events.
  progress('source ceiling: bare zongji over the whole binlog');
  const source = await readBinlogCounting(stack.mariadb.url, 4_000_001, end);
  const sourceRate = source.rows / source.seconds;
  report({ metric: 'source_ceiling', rows: source.rows, events: source.events, seconds: r3(source.seconds), rows_per_s: Math.round(sourceRate) });

  // 3. Sink ceiling: the same writes sdl makes, documents prebuilt.
  progress('sink ceiling: reading and decoding the workload into sdl batches (untimed)');
  let txns = await readTransactions(stack.mariadb.url, 4_000_002, ['bench'], end);
  let batches = await makeBatches(txns, { ...FULL_CAPABILITIES, decimal128: caps.decimal128, nestedArrays: caps.nestedArrays, dottedKeys: caps.dottedKeys });
  txns = [];
  const rows = batches.reduce((n, b) => n + b.rows, 0);
  progress(`sink ceiling: writing ${rows} rows in ${batches.length} batches`);
  const sink = await sinkCeiling(client, 'sink_sdl', batches, { bench: 'sink_bench' }, caps.ferretdb !== undefined ? FERRETDB_CHUNK : DEFAULT_CHUNK, mirrorStrategyFor(caps), 'sink', (n, s) => progress(`  sink: ${n} rows in ${s.toFixed(1)} s`));
  batches = [];
  const sinkRate = sink.rows / sink.seconds;
  report({ metric: 'sink_ceiling', rows: sink.rows, batches: sink.batches, seconds: r3(sink.seconds), rows_per_s: Math.round(sinkRate), seconds_by_step: sink.secondsBy });
  await client.db('sink_sdl').dropDatabase();
  await client.db('sink_bench').dropDatabase();
  const ceiling = Math.min(sourceRate, sinkRate);

  // 4. sdl end to end from an empty target, catching up on the workload.
  let live: BenchSdl | undefined;
  const e2e: Record<string, number> = {};
  for (const [i, name] of RUNS.entries()) {
    const cfg = configs[name];
    if (cfg === undefined) throw new Error(`unknown BENCH_RUNS entry ${name}`);
    await client.db('bench').dropDatabase();
    const sdl = new BenchSdl(stack, { pipeline: `e2e-${name}`, sdlDb: `sdl_${name}`, ...cfg, ...profiled(name) });
    keepLog(sdl);
    progress(`sdl end to end (${name}): catching up on ${rows} rows`);
    await streamFromBinlogStart(client.db(`sdl_${name}`), `e2e-${name}`);
    sdl.start();
    const seconds = await sdl.waitForCheckpoint(client, end.gtid, 900_000);
    const rate = rows / seconds;
    e2e[name] = rate;
    const batchesWritten = sdl.batchesWritten();
    report({
      metric: 'sdl_e2e', run: name, workers: cfg.workers, staging: cfg.staging, rows, seconds: r3(seconds), rows_per_s: Math.round(rate),
      ratio: r3(rate / ceiling), batches: batchesWritten, mean_batch_rows: Math.round(rows / Math.max(1, batchesWritten)),
      peak_rss_mb: r1(sdl.peakRssMb), hwm_rss_mb: r1(sdl.hwmMb()),
    });
    if (i === RUNS.length - 1) live = sdl;
    else {
      await sdl.stop();
      await client.db(`sdl_${name}`).dropDatabase();
    }
  }
  if (e2e['nostaging'] !== undefined && e2e['workers1'] !== undefined) {
    report({ metric: 'staging_cost', with_rows_per_s: Math.round(e2e['workers1']), without_rows_per_s: Math.round(e2e['nostaging']), slowdown: r3(1 - e2e['workers1'] / e2e['nostaging']) });
  }
  if (e2e['workers0'] !== undefined && e2e['workers1'] !== undefined) {
    report({ metric: 'pool_gain', workers1_rows_per_s: Math.round(e2e['workers1']), workers0_rows_per_s: Math.round(e2e['workers0']), speedup: r3(e2e['workers1'] / e2e['workers0']) });
  }
  await widePhase(caps);
  if (live === undefined) throw new Error('BENCH_RUNS is empty');
  const sdl = live;
  if (ONLY === 'e2e') {
    await sdl.stop();
    return;
  }

  // 5. Lag at a fixed write rate while sdl is caught up and streaming.
  progress(`lag: ${LAG_RATE} row changes/s for ${LAG_SECONDS} s (${sdl.opts.pipeline})`);
  const lag = await measureLag(conn, client, sdl.opts.sdlDb, sdl.opts.pipeline, LAG_RATE, LAG_SECONDS);
  report({
    metric: 'lag', run: sdl.opts.pipeline.replace('e2e-', ''), target_rows_per_s: LAG_RATE, achieved_rows_per_s: Math.round(lag.rows / lag.seconds), transactions: lag.transactions,
    p50_ms: r1(lag.p50), p90_ms: r1(lag.p90), p99_ms: r1(lag.p99), max_ms: r1(lag.max), unseen: lag.unseen,
  });

  // 6. Memory with MongoDB stopped while the source runs ahead: backpressure must pause the reader.
  if (!stack.mongo.controllable) {
    report({ metric: 'memory_behind', skipped: 'an external MongoDB (SDL_TEST_MONGO_URL) cannot be paused by the bench' });
  } else {
    const caughtUp = await binlogEnd(conn);
    await sdl.waitForCheckpoint(client, caughtUp.gtid, 120_000);
    const ferretPid = Number(readFileSync(stack.scratch.path('pids', 'ferretdb'), 'utf8'));
    sdl.resetPeak();
    const baseline = sdl.peakRssMb;
    progress(`memory: SIGSTOP the MongoDB-wire server (pid ${ferretPid}), writing ${BEHIND_ROWS} rows`);
    process.kill(ferretPid, 'SIGSTOP');
    let behindRows = 0;
    let writeSeconds = 0;
    let pausedReader = false;
    try {
      const before = rowsOf(load.stats);
      t = performance.now();
      await load.load(BEHIND_ROWS, (n) => progress(`  ${n - before} rows behind, sdl rss ${r1(sdl.peakRssMb)} MB peak`));
      writeSeconds = (performance.now() - t) / 1000;
      behindRows = rowsOf(load.stats) - before;
      progress('memory: writes done; sampling 10 s more');
      await new Promise((r) => setTimeout(r, 10_000));
      pausedReader = sdl.pauses() > 0;
    } finally {
      process.kill(ferretPid, 'SIGCONT');
    }
    const heldPeak = sdl.peakRssMb;
    const behindEnd = await binlogEnd(conn);
    report({
      metric: 'memory_behind', rows_behind: behindRows, write_seconds: r3(writeSeconds), baseline_rss_mb: r1(baseline), peak_rss_mb: r1(heldPeak),
      reader_paused: pausedReader, target_mb: 300, under_target: heldPeak < 300,
    });
    progress('memory: SIGCONT; checking sdl resumes');
    t = performance.now();
    const offsets = client.db(sdl.opts.sdlDb).collection<{ _id: string; gtid: string | null }>('offsets');
    const stuckAt = (await offsets.findOne({ _id: sdl.opts.pipeline }))?.gtid;
    let resumed = NaN;
    while (performance.now() - t < 120_000) {
      const cp = await offsets.findOne({ _id: sdl.opts.pipeline });
      if (cp?.gtid !== stuckAt) {
        resumed = (performance.now() - t) / 1000;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 10_000));
    const cp = await offsets.findOne({ _id: sdl.opts.pipeline });
    report({ metric: 'memory_resume', checkpoint_moved_after_s: r3(resumed), checkpoint_after_10s: cp?.gtid ?? null, source_end: behindEnd.gtid, peak_rss_mb_incl_resume: r1(sdl.peakRssMb), hwm_rss_mb: r1(sdl.hwmMb()) });
  }
  await sdl.kill9();

  // 7. Memory while one huge source transaction is read, held and applied (a pipeline of its own table).
  const one = new BenchSdl(stack, { pipeline: 'memory-txn', sdlDb: 'sdl_txn', workers: 1, staging: true, env: { SDL_INCLUDE: 'bench.one_txn' } });
  await conn.query(ONE_TXN_TABLE);
  await untilStreaming(one, conn, client);
  report(await memoryOneTransaction(conn, client, one, TXN_ROWS, TXN_WAIT_S * 1000, progress));
  await one.kill9();
}

/** With BENCH_PROFILE, each sdl's log (step timings) is kept beside its CPU profile. */
function keepLog(sdl: BenchSdl): void {
  if (PROFILE === '') return;
  const stop = sdl.stop.bind(sdl);
  sdl.stop = async (graceMs?: number) => {
    await stop(graceMs);
    copyFileSync(sdl.logFile, join(PROFILE, `${sdl.opts.pipeline}.log`));
  };
}

/** 4b. Wide rows (JSON and BLOB columns, about 4 KB each): sink ceiling, then sdl with and without the pool. */
async function widePhase(caps: Awaited<ReturnType<typeof probeCapabilities>>): Promise<void> {
  const rows = env('BENCH_WIDE_ROWS', caps.ferretdb !== undefined ? 3000 : 30_000);
  if (rows === 0) return;
  await conn.query(WIDE_SCHEMA);
  const start = await binlogEnd(conn);
  const load = new WideLoad(conn);
  progress(`wide rows: loading ${rows} row changes`);
  const t = performance.now();
  await load.load(rows);
  const end = await binlogEnd(conn);
  report({ metric: 'workload_wide', rows: rowsOf(load.stats), ...load.stats, seconds: r3((performance.now() - t) / 1000), binlog_end: end });

  progress('wide rows: sink ceiling');
  let batches = await makeBatches(await readTransactions(stack.mariadb.url, 4_000_003, ['benchwide'], end), { ...FULL_CAPABILITIES, decimal128: caps.decimal128, nestedArrays: caps.nestedArrays, dottedKeys: caps.dottedKeys });
  const sink = await sinkCeiling(client, 'sink_wide_sdl', batches, { benchwide: 'sink_benchwide' }, caps.ferretdb !== undefined ? FERRETDB_CHUNK : DEFAULT_CHUNK, mirrorStrategyFor(caps), 'sink-wide');
  const total = batches.reduce((n, b) => n + b.rows, 0);
  batches = [];
  const sinkRate = sink.rows / sink.seconds;
  report({ metric: 'sink_ceiling_wide', rows: sink.rows, batches: sink.batches, seconds: r3(sink.seconds), rows_per_s: Math.round(sinkRate), seconds_by_step: sink.secondsBy });
  await client.db('sink_wide_sdl').dropDatabase();
  await client.db('sink_benchwide').dropDatabase();

  const e2e: Record<string, number> = {};
  for (const name of RUNS.filter((r) => r === 'workers0' || r === 'workers1')) {
    const cfg = configs[name];
    if (cfg === undefined) continue;
    await client.db('benchwide').dropDatabase();
    const prof = profiled(`wide-${name}`);
    const sdl = new BenchSdl(stack, { pipeline: `wide-${name}`, sdlDb: `sdl_wide_${name}`, ...cfg, ...prof, env: { ...prof.env, SDL_INCLUDE: 'benchwide' } });
    keepLog(sdl);
    // Streams from just before the wide load (its checkpoint), not through the mixed one.
    await writeCheckpoint(client.db(`sdl_wide_${name}`), `wide-${name}`, { file: start.file, pos: start.pos, gtid: start.gtid });
    progress(`sdl end to end, wide rows (${name}): catching up on ${total} rows`);
    sdl.start();
    const seconds = await sdl.waitForCheckpoint(client, end.gtid, 900_000);
    e2e[name] = total / seconds;
    report({ metric: 'sdl_e2e_wide', run: name, workers: cfg.workers, rows: total, seconds: r3(seconds), rows_per_s: Math.round(total / seconds), ratio: r3(total / seconds / sinkRate), peak_rss_mb: r1(sdl.peakRssMb) });
    await sdl.stop();
    await client.db(`sdl_wide_${name}`).dropDatabase();
  }
  if (e2e['workers0'] !== undefined && e2e['workers1'] !== undefined) {
    report({ metric: 'pool_gain_wide', workers1_rows_per_s: Math.round(e2e['workers1']), workers0_rows_per_s: Math.round(e2e['workers0']), speedup: r3(e2e['workers1'] / e2e['workers0']) });
  }
}

/**
 * What this phase measures is streaming: a fresh pipeline would copy the tables by the initial
 * snapshot instead, so it is given a checkpoint at the start of the retained binlog (the GTID
 * position '' streams all of it; nothing is purged on the bench server).
 */
async function streamFromBinlogStart(sdlDb: Db, pipeline: string): Promise<void> {
  const [logs] = await conn.query('SHOW BINARY LOGS');
  const first = (logs as { Log_name: string }[])[0]?.Log_name;
  if (first === undefined) throw new Error('the bench source has no binary log');
  await writeCheckpoint(sdlDb, pipeline, { file: first, pos: 4, gtid: '' });
}
