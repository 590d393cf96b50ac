import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A scratch directory for one test process, with a detached reaper that kills every
 * server registered under it and removes the directory when this process dies, even by
 * kill -9, so an interrupted `make test` leaves no stray servers or ports behind.
 */
export class Scratch {
  readonly dir: string;
  private readonly pidsDir: string;
  private readonly reaper: ChildProcess;

  constructor(prefix = 'sdl-test-', base = tmpdir()) {
    mkdirSync(base, { recursive: true });
    this.dir = mkdtempSync(join(base, prefix));
    this.pidsDir = join(this.dir, 'pids');
    mkdirSync(this.pidsDir);
    const script = [
      'while kill -0 "$1" 2>/dev/null; do sleep 0.5; done',
      'for f in "$2"/pids/*; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done',
      'sleep 0.5; rm -rf "$2"',
    ].join('\n');
    this.reaper = spawn('bash', ['-c', script, 'reaper', String(process.pid), this.dir], {
      detached: true,
      stdio: 'ignore',
    });
    this.reaper.unref();
  }

  register(name: string, pid: number): void {
    writeFileSync(join(this.pidsDir, name), String(pid));
  }

  unregister(name: string): void {
    rmSync(join(this.pidsDir, name), { force: true });
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** Kills whatever is still registered (callers stop theirs gracefully first) and removes the directory. */
  dispose(): void {
    for (const name of readdirSync(this.pidsDir)) {
      const pid = Number(readFileSync(join(this.pidsDir, name), 'utf8'));
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.reaper.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ManagedOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
}

/** A child process the harness owns: started, stopped gracefully, or killed with SIGKILL. */
export class Managed {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<number | null> = Promise.resolve(null);

  constructor(private readonly scratch: Scratch, private readonly opts: ManagedOptions) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.running) throw new Error(`${this.opts.name} is already running`);
    const fd = openSync(this.opts.logFile, 'a');
    const child = spawn(this.opts.command, this.opts.args, {
      stdio: ['ignore', fd, fd],
      env: this.opts.env ?? process.env,
    });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${this.opts.command}`);
    this.scratch.register(this.opts.name, child.pid);
    this.child = child;
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code) => {
        this.scratch.unregister(this.opts.name);
        resolve(code);
      });
    });
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stop(graceMs = 20_000): Promise<void> {
    if (!this.running || this.child === undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  async kill9(): Promise<void> {
    if (!this.running || this.child === undefined) return;
    this.child.kill('SIGKILL');
    await this.exitPromise;
  }

  exited(): Promise<number | null> {
    return this.exitPromise;
  }
}
