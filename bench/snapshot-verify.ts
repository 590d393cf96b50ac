import type { MongoClient } from 'mongodb';
import type { Connection as CallbackConnection } from 'mysql2';
import type { Connection } from 'mysql2/promise';
import { connectExact } from '../src/mysql/connection.js';
import type { Stack } from '../test/support/stack.js';
import { BenchSdl } from './sdl-run.js';

const DB = 'snapbench';

export interface SnapshotVerifyFigures {
  rows: number;
  select: { seconds: number; rowsPerSecond: number };
  snapshot: { seconds: number; rowsPerSecond: number; peakRssMb: number; hwmRssMb: number; exit: number | null };
  verify: { seconds: number; rowsPerSecond: number; peakRssMb: number; hwmRssMb: number; exit: number | null };
  /** `sdl verify` of the same table by the build at BENCH_VERIFY_BASELINE, right after this one's. */
  verifyBaseline?: { seconds: number; rowsPerSecond: number; peakRssMb: number; hwmRssMb: number; exit: number | null; cli: string };
}

/**
 * One table of `rows` rows (DECIMAL, text, DATETIME, DOUBLE, binary, BIGINT), then in the same
 * run: the raw rate of one streamed `SELECT` of it (the ceiling both read paths share), `sdl
 * snapshot` of it into an empty target, and `sdl verify` of it, each sdl as a child process whose
 * RSS is sampled. Times are wall clock from spawn to exit, so they include sdl's start (~1 s).
 */
export async function snapshotAndVerify(stack: Stack, conn: Connection, client: MongoClient, rows: number, progress: (msg: string) => void): Promise<SnapshotVerifyFigures> {
  await conn.query(`DROP DATABASE IF EXISTS ${DB}`);
  await conn.query(`CREATE DATABASE ${DB}`);
  await conn.query(`CREATE TABLE ${DB}.t (
      id BIGINT PRIMARY KEY, amount DECIMAL(20,6) NOT NULL, note VARCHAR(64), at DATETIME(6), f DOUBLE, raw VARBINARY(16), n BIGINT
    ) CHARSET utf8mb4`);
  progress(`snapshot/verify: loading ${rows} rows into ${DB}.t`);
  for (let from = 1; from <= rows; from += 100_000) {
    const to = Math.min(rows, from + 99_999);
    await conn.query(`INSERT INTO ${DB}.t
        SELECT seq, seq / 7, CONCAT('row ', seq, ' of the snapshot bench ✓'), TIMESTAMPADD(MICROSECOND, seq * 1001, '2024-01-01'), seq / 3,
               UNHEX(LPAD(HEX(seq), 16, '0')), seq * 1000003
          FROM ${DB}.seq_${from}_to_${to}`);
  }

  progress('snapshot/verify: raw SELECT streaming rate');
  const select = await selectRate(stack.mariadb.url);
  progress(`  ${Math.round(select.rowsPerSecond)} rows/s`);

  const sdlDb = 'sdl_snapbench';
  await client.db(sdlDb).dropDatabase();
  await client.db(DB).dropDatabase();
  const env = { SDL_INCLUDE: DB, SDL_MONGO_DATABASE: sdlDb };
  progress('snapshot/verify: sdl snapshot');
  const snapshot = await timed(new BenchSdl(stack, { pipeline: 'snapbench', sdlDb, workers: 1, staging: false, env, args: ['snapshot'] }));
  progress(`  ${snapshot.seconds.toFixed(1)} s, exit ${snapshot.exit}`);
  progress('snapshot/verify: sdl verify');
  const verify = await timed(new BenchSdl(stack, { pipeline: 'snapbench', sdlDb, workers: 1, env, args: ['verify', '--tables', `${DB}.t`, '--json'] }));
  progress(`  ${verify.seconds.toFixed(1)} s, exit ${verify.exit}`);
  const baselineCli = process.env['BENCH_VERIFY_BASELINE'];
  let verifyBaseline: SnapshotVerifyFigures['verifyBaseline'];
  if (baselineCli !== undefined && baselineCli !== '') {
    progress(`snapshot/verify: sdl verify of ${baselineCli}`);
    const b = await timed(new BenchSdl(stack, { pipeline: 'snapbench', sdlDb, workers: 1, env, args: ['verify', '--tables', `${DB}.t`, '--json'], cli: baselineCli }));
    progress(`  ${b.seconds.toFixed(1)} s, exit ${b.exit}`);
    verifyBaseline = { ...b, rowsPerSecond: rows / b.seconds, cli: baselineCli };
  }
  return {
    rows,
    select,
    snapshot: { ...snapshot, rowsPerSecond: rows / snapshot.seconds },
    verify: { ...verify, rowsPerSecond: rows / verify.seconds },
    ...(verifyBaseline !== undefined ? { verifyBaseline } : {}),
  };
}

/** One `SELECT` of every column, streamed row by row over an exact connection, rows counted. */
async function selectRate(url: string): Promise<{ seconds: number; rowsPerSecond: number }> {
  const conn = await connectExact(url);
  try {
    const t = performance.now();
    let n = 0;
    await new Promise<void>((resolve, reject) => {
      // The promise wrapper has no streaming; the callback connection it wraps does.
      (conn as unknown as { connection: CallbackConnection }).connection
        .query(`SELECT id, amount, note, at, f, raw, n FROM ${DB}.t`)
        .stream()
        .on('data', () => {
          n++;
        })
        .on('end', () => resolve())
        .on('error', reject);
    });
    const seconds = (performance.now() - t) / 1000;
    return { seconds, rowsPerSecond: n / seconds };
  } finally {
    await conn.end();
  }
}

async function timed(sdl: BenchSdl): Promise<{ seconds: number; peakRssMb: number; hwmRssMb: number; exit: number | null }> {
  const t = performance.now();
  let hwm = NaN;
  sdl.start();
  // VmHWM is gone with the process: read it while it runs.
  const hwmSampler = setInterval(() => {
    const h = sdl.running ? sdl.hwmMb() : NaN;
    if (Number.isFinite(h)) hwm = h;
  }, 100);
  try {
    const exit = await sdl.exited();
    return { seconds: (performance.now() - t) / 1000, peakRssMb: sdl.peakRssMb, hwmRssMb: hwm, exit };
  } finally {
    clearInterval(hwmSampler);
  }
}
