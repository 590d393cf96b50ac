/**
 * `npm run bench:memory`: sdl's peak RSS with MEMORY_BEHIND_ROWS (default 1000000) rows of the
 * bench workload written while MongoDB is stopped (backpressure must pause the reader), and while
 * it replicates one source transaction of MEMORY_TXN_ROWS (default 1000000) narrow rows. Reports
 * JSON lines on stdout, progress on stderr; asserts nothing. `make bench` has the same two
 * figures among the others; this runs only them.
 */
import { readFileSync } from 'node:fs';
import type { Connection } from 'mysql2/promise';
import { MongoClient } from 'mongodb';
import { startStack, type Stack } from '../test/support/stack.js';
import { BenchSdl } from './sdl-run.js';
import { binlogEnd } from './source.js';
import { BENCH_SCHEMA, MixedLoad, rowsOf } from './workload.js';

export const ONE_TXN_TABLE = 'CREATE TABLE IF NOT EXISTS bench.one_txn (id INT PRIMARY KEY, note VARCHAR(40), n INT) CHARSET utf8mb4';
const r1 = (n: number): number => Math.round(n * 10) / 10;

/** Peak RSS of sdl while `rows` row changes are written with MongoDB stopped, then 10 s more. */
export async function memoryBehind(stack: Stack, load: MixedLoad, sdl: BenchSdl, rows: number, progress: (m: string) => void): Promise<Record<string, unknown>> {
  const ferretPid = Number(readFileSync(stack.scratch.path('pids', 'ferretdb'), 'utf8'));
  sdl.resetPeak();
  const baseline = sdl.peakRssMb;
  progress(`memory: SIGSTOP the MongoDB-wire server (pid ${ferretPid}), writing ${rows} rows`);
  process.kill(ferretPid, 'SIGSTOP');
  const t = performance.now();
  const before = rowsOf(load.stats);
  try {
    await load.load(rows, (n) => progress(`  ${n - before} rows behind, sdl rss ${r1(sdl.peakRssMb)} MB peak`));
    await new Promise((r) => setTimeout(r, 10_000));
  } finally {
    process.kill(ferretPid, 'SIGCONT');
  }
  return {
    metric: 'memory_behind', rows_behind: rowsOf(load.stats) - before, write_seconds: r1((performance.now() - t) / 1000), baseline_rss_mb: r1(baseline),
    peak_rss_mb: r1(sdl.peakRssMb), reader_paused: sdl.pauses() > 0, target_mb: 300, under_target: sdl.peakRssMb < 300,
  };
}

/**
 * Peak RSS of sdl from one transaction of `rows` inserts until its checkpoint passes it, or
 * `waitMs` (FerretDB applies tens of rows a second: the peak of reading and holding the
 * transaction comes long before it is applied there; `applied` says which).
 */
export async function memoryOneTransaction(conn: Connection, client: MongoClient, sdl: BenchSdl, rows: number, waitMs: number, progress: (m: string) => void): Promise<Record<string, unknown>> {
  sdl.resetPeak();
  const baseline = sdl.peakRssMb;
  progress(`memory: one transaction of ${rows} rows`);
  await conn.query('START TRANSACTION');
  for (let i = 0; i < rows; i += 1000) {
    const ids = Array.from({ length: Math.min(1000, rows - i) }, (_, k) => i + k + 1);
    await conn.query(`INSERT INTO bench.one_txn VALUES ${ids.map(() => '(?,?,?)').join(',')}`, ids.flatMap((id) => [id, `row ${id} of one transaction`, id]));
  }
  await conn.query('COMMIT');
  const end = await binlogEnd(conn);
  let applied = true;
  try {
    await sdl.waitForCheckpoint(client, end.gtid, waitMs);
  } catch (err) {
    applied = false;
    progress(`  not applied: ${String(err)}`);
  }
  return {
    metric: 'memory_one_transaction', rows, baseline_rss_mb: r1(baseline), peak_rss_mb: r1(sdl.peakRssMb), applied, target_mb: 300, under_target: sdl.peakRssMb < 300,
  };
}

if (process.argv[1]?.endsWith('memory.js') === true) {
  const env = (name: string, dflt: number): number => (process.env[name] ?? '') === '' ? dflt : Number(process.env[name]);
  const started = performance.now();
  const progress = (msg: string): void => {
    process.stderr.write(`[bench:memory ${((performance.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
  };
  const stack = await startStack();
  const conn = await stack.mariadb.connect();
  const client = new MongoClient(stack.mongo.url);
  try {
    await conn.query(BENCH_SCHEMA);
    await conn.query(ONE_TXN_TABLE);
    const load = new MixedLoad(conn);
    await load.load(1);
    // MEMORY_NODE_OPTIONS: V8 flags for sdl (--trace-gc shows live heap against committed heap in its log).
    const nodeOptions: Record<string, string> = process.env['MEMORY_NODE_OPTIONS'] === undefined ? {} : { NODE_OPTIONS: process.env['MEMORY_NODE_OPTIONS'] };
    // MEMORY_SDL_ENV: more environment for the transaction's sdl as JSON (`{"SDL_HTTP_ADDR":"127.0.0.1:9477"}` to read its heap figures from /metrics meanwhile).
    const txnEnv = JSON.parse(process.env['MEMORY_SDL_ENV'] ?? '{}') as Record<string, string>;
    // One sdl per phase: the rows left behind by the first would otherwise still be applying in the second.
    const behind = new BenchSdl(stack, { pipeline: 'memory-behind', sdlDb: 'sdl_behind', workers: 1, staging: true, env: { SDL_INCLUDE: 'bench.customers,bench.orders,bench.order_lines,bench.audit', ...nodeOptions } });
    await untilStreaming(behind, conn, client);
    if (stack.mongo.controllable) process.stdout.write(JSON.stringify(await memoryBehind(stack, load, behind, env('MEMORY_BEHIND_ROWS', 1_000_000), progress)) + '\n');
    process.stderr.write(`sdl log: ${behind.logFile}\n`);
    await behind.kill9();
    const one = new BenchSdl(stack, { pipeline: 'memory-txn', sdlDb: 'sdl_txn', workers: 1, staging: true, env: { SDL_INCLUDE: 'bench.one_txn', ...nodeOptions, ...txnEnv } });
    await untilStreaming(one, conn, client);
    process.stdout.write(JSON.stringify(await memoryOneTransaction(conn, client, one, env('MEMORY_TXN_ROWS', 1_000_000), env('MEMORY_TXN_WAIT_S', 1800) * 1000, progress)) + '\n');
    await one.kill9();
  } finally {
    await conn.end().catch(() => undefined);
    await client.close().catch(() => undefined);
    await stack.stop();
  }
  process.exit(0);
}

/** Starts sdl and waits for its reader to stream at the source's end (after snapshot and recovery). */
export async function untilStreaming(sdl: BenchSdl, conn: Connection, client: MongoClient): Promise<void> {
  sdl.start();
  await sdl.waitForCheckpoint(client, (await binlogEnd(conn)).gtid, 600_000);
  // The initial snapshot's checkpoint comes before the committer's recovery and the reader.
  while (!sdl.lines().some((l) => l['machine'] === 'reader' && JSON.stringify(l['to']).includes('streaming'))) await new Promise((r) => setTimeout(r, 200));
}
