import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { freePort, waitForPort } from './ports.js';
import { Managed, type Scratch } from './processes.js';

/** Where the FerretDB test server binary is: SDL_FERRETDB_BIN, $GOBIN, ~/go/bin. */
export function ferretdbBinary(): string {
  const candidates = [
    process.env['SDL_FERRETDB_BIN'],
    process.env['GOBIN'] && join(process.env['GOBIN'], 'ferretdb'),
    process.env['GOPATH'] && join(process.env['GOPATH'], 'bin', 'ferretdb'),
    join(homedir(), 'go', 'bin', 'ferretdb'),
  ].filter((p): p is string => typeof p === 'string' && p !== '');
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new Error(
      `FerretDB not found (looked in ${candidates.join(', ')}); run test/support/install-ferretdb.sh or set SDL_TEST_MONGO_URL`,
    );
  }
  return found;
}

/**
 * The MongoDB-wire server for a test: SDL_TEST_MONGO_URL when set (a real MongoDB, which the
 * harness cannot stop or kill), else a private FerretDB on SQLite under the scratch directory.
 */
export class MongoServer {
  private constructor(
    readonly url: string,
    private readonly proc: Managed | undefined,
    readonly port: number | undefined,
  ) {}

  static async start(scratch: Scratch): Promise<MongoServer> {
    const external = process.env['SDL_TEST_MONGO_URL'];
    if (external !== undefined && external !== '') return new MongoServer(external, undefined, undefined);
    const port = await freePort();
    const state = scratch.path('ferretdb');
    mkdirSync(state, { recursive: true });
    const proc = new Managed(scratch, {
      name: 'ferretdb',
      command: ferretdbBinary(),
      logFile: join(state, 'server.log'),
      args: [
        '--handler=sqlite',
        `--sqlite-url=file:${state}/`,
        `--state-dir=${state}`,
        `--listen-addr=127.0.0.1:${port}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=WARN',
      ],
    });
    const server = new MongoServer(`mongodb://127.0.0.1:${port}/`, proc, port);
    await server.start();
    return server;
  }

  /** True when the harness owns the server and can stop, kill and restart it. */
  get controllable(): boolean {
    return this.proc !== undefined;
  }

  private owned(): Managed {
    if (this.proc === undefined) throw new Error('SDL_TEST_MONGO_URL server is not controlled by the harness');
    return this.proc;
  }

  async start(): Promise<void> {
    const proc = this.owned();
    proc.start();
    await waitForPort(this.port ?? 0, 30_000, () => proc.running);
    const client = new MongoClient(this.url, { serverSelectionTimeoutMS: 10_000 });
    try {
      await client.db('admin').command({ ping: 1 });
    } finally {
      await client.close();
    }
  }

  async stop(): Promise<void> {
    if (this.proc !== undefined) await this.proc.stop();
  }

  async kill9(): Promise<void> {
    await this.owned().kill9();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}
