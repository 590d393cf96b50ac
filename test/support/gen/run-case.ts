import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { MongoClient } from 'mongodb';
import type { Connection, ResultSetHeader } from 'mysql2/promise';
import { sleep } from '../fault-run.js';
import { SdlProcess, waitForCatchUp, waitForLine } from '../sdl-process.js';
import type { Stack } from '../stack.js';
import { assertMirrorsEqual, eventCountsByTable } from '../verify.js';
import type { CaseChoice, FaultChoice, FaultKind } from './choices.js';
import { Interpreter, OTHER_DB, type Program, type Statement } from './program.js';
import { purgeBinlogs, streamFromHere } from '../binlog.js';
import { sdlCommand } from '../sdl-cli.js';
import { ident } from './sql.js';

/** What one case did, for the soak summary. */
export interface CaseStats {
  faults: Partial<Record<FaultKind, number>>;
  statements: number;
  /** Shapes that really happened (read back from sdl's staging collection and the CLI), not that were generated. */
  shapes: Partial<Record<Shape, number>>;
}

/**
 * `sliced`: source transactions staged in open slices; `slices`: their staged batches;
 * `resnapshots`: `sdl snapshot --tables` runs that ended with the table copied; `alterCopies`,
 * `partitionCopies`, `renameCopies`: tables sdl copied by itself after an ALTER of columns,
 * partition maintenance, or a RENAME from a table not included (the last copy of each table
 * only: a later request replaces the document, so these are lower bounds); `initialSnapshots`:
 * cases whose sdl started without a checkpoint, after some steps.
 */
export type Shape = 'sliced' | 'slices' | 'resnapshots' | 'alterCopies' | 'partitionCopies' | 'renameCopies' | 'initialSnapshots';

/** Faults keyed by the step they follow (indices wrap onto the program). */
export function faultPlan(c: CaseChoice): Map<number, FaultChoice[]> {
  const plan = new Map<number, FaultChoice[]>();
  for (const f of c.faults) {
    const at = f.after % Math.max(1, c.steps.length);
    plan.set(at, [...(plan.get(at) ?? []), f]);
  }
  return plan;
}

export function describeFault(f: FaultChoice): string {
  switch (f.kind) {
    case 'kill-sdl': return `after ${f.ms} ms, kill -9 sdl run and start a new one`;
    case 'mongo-kill': return `kill -9 MongoDB; it stays down for the next step and ${f.ms} ms`;
    case 'mongo-stop': return `stop MongoDB; it stays down for the next step and ${f.ms} ms`;
    case 'mariadb-restart': return 'restart MariaDB';
    case 'flush-logs': return 'FLUSH BINARY LOGS';
    case 'purge-logs': return "PURGE BINARY LOGS TO '<file of sdl's checkpoint>'";
  }
}

/** A case's program, built from its choices against the database it will own. */
export function programOf(c: CaseChoice, db: string): Program {
  return new Interpreter(db).build(c);
}

/** sdl's include list for a case: the tables the model names as included, not the whole database. */
export function includeOf(program: Program): string[] {
  return program.include.map((t) => `${program.db}.${t}`);
}

async function session(stack: Stack, db?: string): Promise<Connection> {
  const conn = await stack.mariadb.connect();
  await conn.query("SET SESSION sql_mode = '', time_zone = '+00:00'");
  if (db !== undefined) await conn.query(`USE ${ident(db)}`);
  return conn;
}

/**
 * Runs one case in its own source database, sdl pipeline and sdl database, with its faults,
 * then checks the oracle: sdl catches up without exiting, every mirror equals its table, no
 * mirror is left for a table that is gone, and the event log holds exactly the row changes
 * the model counted, per table and op.
 */
export async function runCase(stack: Stack, c: CaseChoice, db: string, stats: CaseStats): Promise<void> {
  const phase: CasePhase = { now: 'starting' };
  const body = runCaseBody(stack, c, db, stats, phase);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void hangReport(stack, db, phase).then(async (r) => {
        // Free what the abandoned body holds so the next case starts clean.
        if (phase.sdl?.running === true) await phase.sdl.kill9();
        phase.conn?.destroy();
        reject(new Error(r));
      });
    }, CASE_MS);
  });
  // Past the limit the body is abandoned; its later rejection must not surface as unhandled.
  body.catch(() => undefined);
  try {
    await Promise.race([body, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** A case that runs past this has hung somewhere: fail it with where, not the whole file at its timeout. */
const CASE_MS = Number(process.env['SDL_GEN_CASE_MS'] ?? 300_000);

/** Where a case is, and what it holds, for the report and clean-up when it hangs. */
interface CasePhase {
  now: string;
  sdl?: SdlProcess;
  conn?: Connection;
}

/** What the servers were doing when a case hung: its phase, MariaDB's process list, sdl's notable log lines. */
async function hangReport(stack: Stack, db: string, phase: CasePhase): Promise<string> {
  let processes = '';
  try {
    const conn = await stack.mariadb.connect();
    try {
      const [rows] = await conn.query('SHOW FULL PROCESSLIST');
      processes = (rows as Record<string, unknown>[]).map((r) => JSON.stringify(r)).join('\n');
    } finally {
      await conn.end();
    }
  } catch (err) {
    processes = `(no process list: ${err instanceof Error ? err.message : String(err)})`;
  }
  const sdlLog = phase.sdl === undefined ? '(no sdl yet)' : notable(phase.sdl);
  return `case ${db} hung for ${CASE_MS / 1000} s at: ${phase.now}\nMariaDB processes:\n${processes}\nsdl warnings and errors:\n${sdlLog}`;
}

async function runCaseBody(stack: Stack, c: CaseChoice, db: string, stats: CaseStats, phase: CasePhase): Promise<void> {
  const program = programOf(c, db);
  const sdlDb = `sdl_${db}`;
  const pipeline = db;
  const plan = faultPlan(c);
  let generation = 0;
  const env = { SDL_MONGO_DATABASE: sdlDb, ...(c.chunkRows !== undefined ? { SDL_SNAPSHOT_CHUNK_ROWS: String(c.chunkRows) } : {}) };
  const args = c.sliceBytes === undefined ? [] : ['--config', limitsConfig(stack, db, c.sliceBytes)];
  const include = includeOf(program);
  const spawn = (): SdlProcess => {
    const p = new SdlProcess(stack.scratch, stack, { pipeline, include: include.join(','), name: `${db}-${generation++}`, env, args });
    p.start();
    phase.sdl = p;
    return p;
  };
  // A server a previous case left down would fail this case for nothing of its own.
  phase.now = 'starting MariaDB';
  if (!stack.mariadb.running) await stack.mariadb.start();
  let conn = await session(stack);
  phase.conn = conn;
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${ident(OTHER_DB)}`);
  // The oracle counts every row change after sdl's start as a change: without an initial
  // snapshot, stream from here; with one (snapshotAt), sdl starts after the steps before it.
  const startAt = program.initialSnapshot?.startAt ?? 0;
  if (program.initialSnapshot === undefined) {
    phase.now = 'setting the start position';
    await streamFromHere(stack, pipeline, sdlDb);
  }
  let sdl: SdlProcess | undefined = program.initialSnapshot === undefined ? spawn() : undefined;
  // The oracle needs the snapshot's position fixed before the next step: a change committed
  // before it is in the copy, one after it is streamed (and counted). sdl logs this line once the
  // first view is open.
  const startSnapshot = async (step: number): Promise<SdlProcess> => {
    phase.now = `${db}: starting sdl without a checkpoint (initial snapshot) before step ${step}`;
    const p = spawn();
    await waitForLine(p, /^no checkpoint: initial snapshot/, 120_000);
    stats.shapes.initialSnapshots = (stats.shapes.initialSnapshots ?? 0) + 1;
    return p;
  };
  let mongoDown = false;
  // `sdl snapshot --tables` runs in the background, as beside a live pipeline; it exits once the copy is done.
  const copies: { table: string; refusable: boolean; duringInitialSnapshot: boolean; done: Promise<{ code: number; stdout: string; stderr: string }> }[] = [];
  const where = (i: number, st: Statement): string => `${db} step ${i}: ${st.sql.slice(0, 300)}`;
  try {
    for (const st of program.setup) {
      phase.now = `setup: ${st.sql.slice(0, 300)}`;
      await conn.query(st.sql);
    }
    for (const [i, step] of program.steps.entries()) {
      if (i === startAt && sdl === undefined) sdl = await startSnapshot(i);
      for (const st of step.statements) {
        stats.statements++;
        phase.now = where(i, st);
        const [res] = await conn.query(st.sql);
        if (st.rows !== null) {
          // The model and the server disagreeing is a generator bug, not an sdl one: say which.
          assert.equal((res as ResultSetHeader).affectedRows, st.rows, `generator model is wrong about ${where(i, st)}`);
        }
      }
      if (mongoDown) {
        phase.now = `${db} step ${i}: starting MongoDB`;
        await stack.mongo.start();
        mongoDown = false;
      }
      if (sdl === undefined) {
        // No pipeline yet: only what a server with no sdl attached goes through (binlogs purged
        // before the first run, as on every production server).
        for (const f of plan.get(i) ?? []) {
          if (f.kind !== 'flush-logs' && f.kind !== 'purge-logs') continue;
          stats.faults[f.kind] = (stats.faults[f.kind] ?? 0) + 1;
          phase.now = `${db} step ${i}: fault ${describeFault(f)} before sdl starts`;
          await (f.kind === 'flush-logs' ? conn.query('FLUSH BINARY LOGS') : purgeBinlogs(conn));
        }
        continue;
      }
      if (step.resnapshot !== undefined) {
        // Requested while MongoDB is up (the command writes its request there), so the faults after this step land during the copy.
        const table = `${db}.${step.resnapshot}`;
        // It must have written its request before a fault can stop a server or DDL can drop the
        // table: it says so. (The request's generation is no sign: sdl itself asks again when the
        // stream reaches a DDL of the table, CI's failure with a MariaDB restart.)
        let said = '';
        const written = new Promise<void>((resolve) => {
          const done = sdlCommand(stack, 'snapshot', { SDL_PIPELINE: pipeline, SDL_INCLUDE: include.join(','), SDL_MONGO_DATABASE: sdlDb }, ['--tables', table], COPY_MS, (text) => {
            said += text;
            if (said.includes('requested an online snapshot')) resolve();
          });
          copies.push({ table, refusable: step.refusable === true, duringInitialSnapshot: program.initialSnapshot !== undefined, done });
          void done.then(() => resolve());
        });
        await written;
      }
      for (const f of plan.get(i) ?? []) {
        phase.now = `${db} step ${i}: fault ${describeFault(f)}`;
        if ((f.kind === 'mongo-kill' || f.kind === 'mongo-stop') && (!stack.mongo.controllable || mongoDown)) continue;
        // The checkpoint to purge up to is read from MongoDB.
        if (f.kind === 'purge-logs' && mongoDown) continue;
        stats.faults[f.kind] = (stats.faults[f.kind] ?? 0) + 1;
        switch (f.kind) {
          case 'kill-sdl':
            await sleep(f.ms);
            await sdl.kill9();
            sdl = spawn();
            break;
          case 'mongo-kill':
          case 'mongo-stop':
            await (f.kind === 'mongo-kill' ? stack.mongo.kill9() : stack.mongo.stop());
            mongoDown = true;
            await sleep(f.ms);
            break;
          case 'mariadb-restart':
            await conn.end();
            await stack.mariadb.restart();
            conn = await session(stack, db);
            phase.conn = conn;
            break;
          case 'flush-logs':
            await conn.query('FLUSH BINARY LOGS');
            break;
          case 'purge-logs':
            await purgeCheckpointed(stack, conn, sdlDb, pipeline);
            break;
        }
      }
    }
    sdl ??= await startSnapshot(program.steps.length);
    phase.now = `${db}: after the program, starting MongoDB`;
    if (mongoDown) {
      await stack.mongo.start();
      mongoDown = false;
    }
    for (const copy of copies) {
      phase.now = `${db}: waiting for sdl snapshot --tables ${copy.table}`;
      const r = await copy.done;
      // A key with an ENUM/SET part is refused (exit 1, named), unless a DDL gave the table another key before the copy.
      if (copy.refusable && r.code === 1 && /: not copied \(.*refused: .*(enum|set)\(/.test(r.stdout)) continue;
      // Asked while the initial snapshot ran (no checkpoint yet): refused, exit 2; that snapshot copies the table.
      if (copy.duringInitialSnapshot && r.code === 2 && /has no checkpoint/.test(r.stdout + r.stderr)) continue;
      assert.equal(r.code, 0, `sdl snapshot --tables ${copy.table} exited ${r.code}:\n${r.stdout}\n${r.stderr.slice(-3000)}\nsdl warnings and errors:\n${notable(sdl)}`);
      stats.shapes.resnapshots = (stats.shapes.resnapshots ?? 0) + 1;
    }
    phase.now = `${db}: waiting for sdl to catch up`;
    assert.ok(sdl.running, `sdl exited during the program:\n${sdl.logs().slice(-3000)}`);
    const caughtUp = sdl;
    await waitForCatchUp(stack, pipeline, 120_000, caughtUp, sdlDb).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nsdl warnings and errors:\n${notable(caughtUp)}`);
    });
    // A DDL the stream reached late (or a kill) may have started another copy: the oracle judges the mirror once none runs.
    phase.now = `${db}: waiting for online snapshots to finish`;
    await copiesFinished(stack, sdlDb, pipeline, sdl);
    phase.now = `${db}: verifying`;
    await assertMirrorsEqual(stack, include);
    await assertNoStrayMirrors(stack, db, program);
    await assertMirrorSizes(stack, db, program);
    assert.deepEqual(sortedCounts(await eventCountsByTable(stack, db, sdlDb)), expectedCounts(program), `event log of ${db} (${sdlDb}.row_changes) differs from the model`);
    await countSlices(stack, sdlDb, pipeline, stats);
    await countDdlCopies(stack, sdlDb, pipeline, stats);
    phase.now = `${db}: stopping sdl (SIGTERM)`;
    const code = await sdl.stop();
    assert.equal(code, 0, `sdl did not stop cleanly:\n${sdl.logs().slice(-3000)}`);
  } finally {
    if (mongoDown) await stack.mongo.start();
    if (sdl?.running === true) await sdl.kill9();
    await conn.end().catch(() => undefined);
  }
}

/** How long `sdl snapshot --tables` may wait for its copy (kills and outages included). */
const COPY_MS = 180_000;

/** A config file with the case's batch and in-flight limits: transactions past sliceBytes are streamed in slices. */
function limitsConfig(stack: Stack, db: string, sliceBytes: number): string {
  const file = stack.scratch.path(`${db}-limits.json`);
  // maxInFlightBytes at its minimum (1 MiB, a quarter of it 256 KiB): batch.maxBytes sets the threshold.
  writeFileSync(file, JSON.stringify({ maxInFlightBytes: 1024 * 1024, batch: { maxBytes: sliceBytes } }));
  return file;
}

/** Waits until the pipeline has no unfinished online table copy (requested by the CLI or by a DDL). */
async function copiesFinished(stack: Stack, sdlDb: string, pipeline: string, sdl: SdlProcess): Promise<void> {
  const client = new MongoClient(stack.mongo.url);
  try {
    const deadline = Date.now() + COPY_MS;
    for (;;) {
      const open = await client.db(sdlDb).collection('snapshots').find({ pipeline, done: false, table: { $exists: true } }, { projection: { table: 1 } }).toArray();
      if (open.length === 0) return;
      assert.ok(sdl.running, `sdl exited while copying ${open.map((d) => String(d['table'])).join(', ')}:\n${notable(sdl)}`);
      if (Date.now() > deadline) throw new Error(`online snapshots of ${open.map((d) => String(d['table'])).join(', ')} unfinished after ${COPY_MS / 1000} s:\n${notable(sdl)}`);
      await sleep(200);
    }
  } finally {
    await client.close();
  }
}

/**
 * Counts the case's streamed transactions from staging: every batch of a sliced transaction
 * (its open slices and its closing batch) carries the group, and applied batches keep it.
 */
async function countSlices(stack: Stack, sdlDb: string, pipeline: string, stats: CaseStats): Promise<void> {
  const client = new MongoClient(stack.mongo.url);
  try {
    const heads = await client.db(sdlDb).collection<{ group?: string }>('row_changes_staging').find({ pipeline, part: 0, group: { $exists: true } }, { projection: { group: 1 } }).toArray();
    const groups = new Set(heads.map((h) => h.group));
    // A group's closing batch is one of its heads; the others are its slices.
    const slices = heads.length - groups.size;
    if (slices > 0) {
      stats.shapes.sliced = (stats.shapes.sliced ?? 0) + groups.size;
      stats.shapes.slices = (stats.shapes.slices ?? 0) + slices;
    }
  } finally {
    await client.close();
  }
}

/** Copies sdl requested by itself for a DDL, by the kind of DDL its request names, that ended copied. */
async function countDdlCopies(stack: Stack, sdlDb: string, pipeline: string, stats: CaseStats): Promise<void> {
  const client = new MongoClient(stack.mongo.url);
  try {
    const docs = await client.db(sdlDb).collection('snapshots').find({ pipeline, done: true, table: { $exists: true } }, { projection: { reason: 1 } }).toArray();
    for (const d of docs) {
      const reason = String(d['reason']);
      if (reason.includes('refused') || reason.startsWith('requested by sdl snapshot')) continue;
      const kind: Shape | undefined = reason.includes('PARTITION') ? 'partitionCopies' : reason.includes('RENAME from') ? 'renameCopies' : /ADD COLUMN|MODIFY|CHANGE/.test(reason) ? 'alterCopies' : undefined;
      if (kind !== undefined) stats.shapes[kind] = (stats.shapes[kind] ?? 0) + 1;
    }
  } finally {
    await client.close();
  }
}

/** The log lines worth reading in a failure report: warnings and worse, the last few transitions. */
function notable(sdl: SdlProcess): string {
  const lines = sdl.lines();
  const bad = lines.filter((l) => Number(l['level']) >= 40).slice(-15);
  const recent = lines.slice(-8);
  return [...new Set([...bad, ...recent])].map((l) => JSON.stringify(l).slice(0, 600)).join('\n');
}

/** Purges binlog files older than the one sdl's checkpoint is in: sdl no longer needs them. */
async function purgeCheckpointed(stack: Stack, conn: Connection, sdlDb: string, pipeline: string): Promise<void> {
  const client = new MongoClient(stack.mongo.url);
  try {
    const cp = await client.db(sdlDb).collection<{ _id: string; file: string }>('offsets').findOne({ _id: pipeline });
    if (cp !== null) await conn.query(`PURGE BINARY LOGS TO '${cp.file}'`);
  } finally {
    await client.close();
  }
}

async function assertNoStrayMirrors(stack: Stack, db: string, program: Program): Promise<void> {
  const client = new MongoClient(stack.mongo.url);
  try {
    const names = (await client.db(db).listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    const stray = names.filter((n) => !program.tables.has(n));
    assert.deepEqual(stray, [], `mirror collections of tables that no longer exist in ${db}`);
  } finally {
    await client.close();
  }
}

/**
 * The verifier keys both sides by the same `_id` encoding, so two source keys that encode to
 * one `_id` collapse on both sides and compare equal; the model's row count per table does not.
 */
async function assertMirrorSizes(stack: Stack, db: string, program: Program): Promise<void> {
  const client = new MongoClient(stack.mongo.url);
  try {
    const sizes: Record<string, number> = {};
    for (const t of program.tables.keys()) sizes[t] = await client.db(db).collection(t).countDocuments();
    assert.deepEqual(sizes, Object.fromEntries(program.tables), `mirror sizes in ${db} differ from the rows the model says each table has`);
  } finally {
    await client.close();
  }
}

function sortedCounts(m: Map<string, Record<string, number>>): Record<string, Record<string, number>> {
  return Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)).map(([t, c]) => [t, Object.fromEntries(Object.entries(c).sort())]));
}

function expectedCounts(p: Program): Record<string, Record<string, number>> {
  const m = new Map<string, Record<string, number>>();
  for (const [t, c] of p.events) {
    // Changes before sdl's start reach the mirror in the initial snapshot's copies (op r), not as changes.
    const before = p.initialSnapshot?.eventsBefore.get(t);
    const after = before === undefined ? c : { insert: c.insert - before.insert, update: c.update - before.update, delete: c.delete - before.delete };
    const nz = Object.fromEntries(Object.entries(after).filter(([, n]) => n > 0));
    if (Object.keys(nz).length > 0) m.set(t, nz);
  }
  return sortedCounts(m);
}

/**
 * A refusal case: a valid prefix, then a shape sdl cannot apply exactly. The oracle: sdl exits
 * 1, its fatal line names the agreed code, the table and the refused transaction's GTID, and
 * the checkpoint stays before that transaction.
 */
export async function runRefusalCase(stack: Stack, c: CaseChoice, db: string, stats: CaseStats): Promise<void> {
  const program = programOf(c, db);
  const refusal = program.refusal;
  if (refusal === undefined) return;
  const sdlDb = `sdl_${db}`;
  await streamFromHere(stack, db, sdlDb);
  const sdl = new SdlProcess(stack.scratch, stack, { pipeline: db, include: includeOf(program).join(','), name: db, env: { SDL_MONGO_DATABASE: sdlDb } });
  sdl.start();
  const conn = await session(stack);
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${ident(OTHER_DB)}`);
  try {
    const refused = program.steps[program.steps.length - 1];
    for (const st of [...program.setup, ...program.steps.slice(0, -1).flatMap((s) => s.statements)]) {
      stats.statements++;
      await conn.query(st.sql);
    }
    // The refusal step may log several groups (each MyISAM statement is its own): sdl must stop
    // at one of them, the first it cannot apply.
    const refusedGtids = new Set<string>();
    for (const st of refused?.statements ?? []) {
      stats.statements++;
      await conn.query(st.sql);
      const [rows] = await conn.query('SELECT @@last_gtid AS g');
      const g = String((rows as { g: string }[])[0]?.g);
      if (g !== '') refusedGtids.add(g);
    }
    const gtid = [...refusedGtids].join(' or ');
    const code = await Promise.race([sdl.exited(), sleep(60_000).then(() => 'still running after 60 s')]);
    const log = sdl.logs().slice(-3000);
    assert.equal(code, 1, `sdl did not stop on ${refusal.code} (${db}.${refusal.table}, GTID ${gtid}):\n${log}`);
    const fatal = JSON.stringify(sdl.lines().find((l) => l['level'] === 60) ?? {});
    assert.ok(fatal.includes(refusal.code), `fatal line lacks ${refusal.code}: ${fatal}`);
    assert.ok(fatal.includes(`${db}.${refusal.table}`), `fatal line does not name ${db}.${refusal.table}: ${fatal}`);
    const named = /\(GTID ([\d-]+)\)/.exec(fatal)?.[1];
    assert.ok(named !== undefined && refusedGtids.has(named), `fatal line does not name the GTID ${gtid}: ${fatal}`);
    const client = new MongoClient(stack.mongo.url);
    try {
      const cp = await client.db(sdlDb).collection<{ _id: string; gtid: string | null }>('offsets').findOne({ _id: db });
      const seq = (g: string | null | undefined): number => Number(/-(\d+)$/.exec(g ?? '')?.[1] ?? -1);
      assert.ok(seq(cp?.gtid) < seq(named), `checkpoint ${cp?.gtid ?? 'none'} moved past the refused transaction ${named}`);
    } finally {
      await client.close();
    }
  } finally {
    if (sdl?.running === true) await sdl.kill9();
    await conn.end().catch(() => undefined);
  }
}
