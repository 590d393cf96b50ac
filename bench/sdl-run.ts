import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { MongoClient } from 'mongodb';
import { Managed } from '../test/support/processes.js';
import { logLines, logText, sdlEnv } from '../test/support/sdl-process.js';
import type { Stack } from '../test/support/stack.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Resident set size figures of a process from /proc, in MB. */
export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

export interface BenchSdlOptions {
  pipeline: string;
  sdlDb: string;
  workers: number;
  staging?: boolean;
  env?: Record<string, string>;
  /** The sdl command line after the CLI; `run` unless told. */
  args?: string[];
  /** Node options before the CLI (e.g. `--cpu-prof`, which NODE_OPTIONS may not carry). */
  nodeArgs?: string[];
  /** Another build's `dist/src/cli/main.js` to run instead of this one's (a baseline in the same run). */
  cli?: string;
}

/** `sdl run` as a child process (like the tests' SdlProcess) with its pid for memory sampling. */
export class BenchSdl {
  readonly logFile: string;
  private readonly proc: Managed;
  private sampler: NodeJS.Timeout | undefined;
  /** Highest VmRSS sampled since the last resetPeak(). */
  peakRssMb = 0;
  startedAt = 0;

  constructor(stack: Stack, readonly opts: BenchSdlOptions) {
    this.logFile = stack.scratch.path(`sdl-${opts.pipeline}.log`);
    this.proc = new Managed(stack.scratch, {
      name: `sdl-${opts.pipeline}`,
      command: process.execPath,
      args: [...(opts.nodeArgs ?? []), opts.cli ?? CLI, ...(opts.args ?? ['run'])],
      logFile: this.logFile,
      env: sdlEnv(stack, {
        SDL_MONGO_DATABASE: opts.sdlDb,
        SDL_PIPELINE: opts.pipeline,
        SDL_INCLUDE: 'bench',
        SDL_WORKERS: String(opts.workers),
        SDL_STAGING: String(opts.staging ?? true),
        ...opts.env,
      }),
    });
  }

  get pid(): number {
    const pid = this.proc.pid;
    if (pid === undefined) throw new Error('sdl not started');
    return pid;
  }

  get running(): boolean {
    return this.proc.running;
  }

  start(): void {
    this.startedAt = performance.now();
    this.proc.start();
    this.sampler = setInterval(() => this.sample(), 100);
  }

  sample(): void {
    if (!this.proc.running) return;
    const m = memoryOf(this.pid);
    if (m !== undefined && m.rss > this.peakRssMb) this.peakRssMb = m.rss;
  }

  resetPeak(): void {
    this.peakRssMb = 0;
    this.sample();
  }

  /** VmHWM: the kernel's own peak RSS for the process lifetime. */
  hwmMb(): number {
    return memoryOf(this.pid)?.hwm ?? NaN;
  }

  async stop(graceMs = 60_000): Promise<void> {
    clearInterval(this.sampler);
    await this.proc.stop(graceMs);
  }

  /** Resolves with the exit code once the process ends (a command that exits by itself). */
  async exited(): Promise<number | null> {
    const code = await this.proc.exited();
    clearInterval(this.sampler);
    return code;
  }

  async kill9(): Promise<void> {
    clearInterval(this.sampler);
    await this.proc.kill9();
  }

  logs(): string {
    return logText(this.logFile);
  }

  /** Parsed pino lines. */
  lines(): Record<string, unknown>[] {
    return logLines(this.logFile);
  }

  /** How many batches the committer wrote (entries into its `writing` state). */
  batchesWritten(): number {
    return this.lines().filter((l) => l['machine'] === 'committer' && l['to'] === 'writing').length;
  }

  /** Times the reader was paused by backpressure. */
  pauses(): number {
    return this.lines().filter((l) => l['machine'] === 'reader' && JSON.stringify(l['to']).includes('paused')).length;
  }

  /** Resolves when the pipeline's checkpoint holds `gtid`; the seconds since start(). */
  async waitForCheckpoint(client: MongoClient, gtid: string, timeoutMs: number, pollMs = 50): Promise<number> {
    const offsets = client.db(this.opts.sdlDb).collection<{ _id: string; gtid: string | null }>('offsets');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const cp = await offsets.findOne({ _id: this.opts.pipeline }).catch(() => null);
      if (cp?.gtid === gtid) return (performance.now() - this.startedAt) / 1000;
      if (!this.running) throw new Error(`sdl exited before reaching ${gtid}; log:\n${this.logs().slice(-4000)}`);
      if (Date.now() > deadline) throw new Error(`checkpoint ${cp?.gtid ?? 'none'} did not reach ${gtid} in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}
