import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { Managed, type Scratch } from './processes.js';
import type { Stack } from './stack.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface SdlOptions {
  pipeline?: string;
  include?: string;
  workers?: number;
  env?: Record<string, string>;
  name?: string;
  /** Extra arguments (e.g. `--resnapshot`). */
  args?: string[];
  /** The sdl command; `run` unless told. */
  command?: string;
}

/** `sdl run` as a child process against the stack, the way an operator runs it. */
export class SdlProcess {
  readonly logFile: string;
  private readonly proc: Managed;

  constructor(scratch: Scratch, stack: Stack, opts: SdlOptions = {}) {
    const name = opts.name ?? 'sdl';
    this.logFile = scratch.path(`${name}.log`);
    this.proc = new Managed(scratch, {
      name,
      command: process.execPath,
      args: [CLI, opts.command ?? 'run', ...(opts.args ?? [])],
      logFile: this.logFile,
      env: sdlEnv(stack, {
        SDL_PIPELINE: opts.pipeline ?? 'test',
        SDL_WORKERS: String(opts.workers ?? 1),
        // A killed instance's successor waits this long for its lease.
        SDL_LEASE_TTL_MS: '2000',
        ...(opts.include !== undefined ? { SDL_INCLUDE: opts.include } : {}),
        ...opts.env,
      }),
    });
  }

  start(): void {
    this.proc.start();
  }

  get running(): boolean {
    return this.proc.running;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** SIGTERM; resolves with the exit code. */
  async stop(): Promise<number | null> {
    const exited = this.proc.exited();
    await this.proc.stop(60_000);
    return exited;
  }

  async kill9(): Promise<void> {
    await this.proc.kill9();
  }

  exited(): Promise<number | null> {
    return this.proc.exited();
  }

  /** Resolves once this instance holds the pipeline's lease (it is the writer). */
  async leaseAcquired(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lines().some((l) => l['msg'] === 'lease acquired: this instance writes the pipeline')) {
      if (!this.running) throw new Error(`sdl exited before taking the lease:\n${this.logs().slice(-2000)}`);
      if (Date.now() > deadline) throw new Error('sdl did not take the lease');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  logs(): string {
    return logText(this.logFile);
  }

  /** Parsed pino lines. */
  lines(): Record<string, unknown>[] {
    return logLines(this.logFile);
  }
}

/** The environment of an `sdl run` child against the stack: its servers, no HTTP, info logs. */
export function sdlEnv(stack: Stack, vars: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, SDL_MYSQL_URL: stack.mariadb.url, SDL_MONGO_URL: stack.mongo.url, SDL_HTTP_ADDR: 'off', SDL_LOG_LEVEL: 'info', ...vars };
}

export function logText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The pino JSON lines of an sdl log file. */
export function logLines(file: string): Record<string, unknown>[] {
  return logText(file)
    .split('\n')
    .filter((l) => l.startsWith('{"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Waits until the pipeline's checkpoint (in database `sdlDb`) has reached the source's current GTID position. */
export async function waitForCatchUp(stack: Stack, pipeline = 'test', timeoutMs = 120_000, sdl?: SdlProcess, sdlDb = 'sdl'): Promise<void> {
  const conn = await stack.mariadb.connect();
  const client = new MongoClient(stack.mongo.url);
  try {
    const [rows] = await conn.query('SELECT @@gtid_binlog_pos AS pos');
    const target = String((rows as { pos: string }[])[0]?.pos);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const cp = await client.db(sdlDb).collection<{ _id: string; gtid: string | null }>('offsets').findOne({ _id: pipeline }).catch(() => null);
      if (cp?.gtid === target) return;
      if (sdl !== undefined && !sdl.running) throw new Error(`sdl exited before catching up to ${target}; log:\n${sdl.logs().slice(-4000)}`);
      if (Date.now() > deadline) throw new Error(`checkpoint ${cp?.gtid ?? 'none'} did not reach ${target} in ${timeoutMs} ms${sdl === undefined ? '' : `; log:\n${sdl.logs().slice(-6000)}`}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await conn.end();
    await client.close();
  }
}

/** The first log line of `sdl` whose message matches `msg`, once logged; throws if sdl exits first. */
export async function waitForLine(sdl: SdlProcess, msg: RegExp, timeoutMs = 180_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = sdl.lines().find((l) => msg.test(String(l['msg'])));
    if (line !== undefined) return line;
    if (!sdl.running) throw new Error(`sdl exited before logging ${msg}:\n${sdl.logs().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`sdl did not log ${msg}:\n${sdl.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
