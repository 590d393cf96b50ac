import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort, waitForPort } from './ports.js';
import { Managed, type Scratch } from './processes.js';

const run = promisify(execFile);

export interface MariaDbOptions {
  serverId?: number;
  /** Extra mariadbd flags, e.g. a small --max-binlog-size for rotation tests. */
  extraArgs?: string[];
  /** Serve TLS with these PEM files (mariadbd --ssl-ca/--ssl-cert/--ssl-key); plain connections still work unless a user REQUIREs SSL. */
  tls?: { ca: string; cert: string; key: string };
}

/**
 * A private mariadbd with the binlog on (ROW, FULL image, FULL metadata, GTID), its own
 * datadir, port and socket under the scratch directory. The system MariaDB is never touched.
 */
export class MariaDb {
  readonly port: number;
  private readonly datadir: string;
  private readonly proc: Managed;

  private constructor(private readonly scratch: Scratch, port: number, opts: MariaDbOptions) {
    this.port = port;
    this.datadir = scratch.path('mariadb', 'data');
    const base = scratch.path('mariadb');
    this.proc = new Managed(scratch, {
      name: 'mariadbd',
      command: 'mariadbd',
      logFile: scratch.path('mariadb', 'server.log'),
      args: [
        '--no-defaults',
        '--user=root',
        `--datadir=${this.datadir}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${base}/mysqld.sock`,
        `--pid-file=${base}/mysqld.pid`,
        `--log-error=${base}/error.log`,
        // Its own temporary directory: internal temporary tables in a shared /tmp were deleted
        // under a running server (`Error on delete of '/tmp/#sql-temptable-…'`) on this shared machine.
        `--tmpdir=${base}/tmp`,
        `--log-bin=${base}/data/binlog`,
        '--binlog-format=ROW',
        '--binlog-row-image=FULL',
        '--binlog-row-metadata=FULL',
        `--server-id=${opts.serverId ?? 1}`,
        '--skip-name-resolve',
        '--innodb-buffer-pool-size=128M',
        '--innodb-log-file-size=48M',
        // Durable against a killed mariadbd (the OS keeps the page cache); fast enough for tests.
        '--innodb-flush-log-at-trx-commit=2',
        '--sync-binlog=0',
        '--max-connections=200',
        ...(opts.tls === undefined ? [] : [`--ssl-ca=${opts.tls.ca}`, `--ssl-cert=${opts.tls.cert}`, `--ssl-key=${opts.tls.key}`]),
        ...(opts.extraArgs ?? []),
      ],
    });
  }

  static async start(scratch: Scratch, opts: MariaDbOptions = {}): Promise<MariaDb> {
    const datadir = scratch.path('mariadb', 'data');
    // mariadb-install-db's bootstrap server has crashed (signal 11) now and then on this loaded
    // 2-core machine; a fresh datadir and a second try is what a person would do.
    for (let attempt = 1; ; attempt++) {
      rmSync(datadir, { recursive: true, force: true });
      mkdirSync(datadir, { recursive: true });
      mkdirSync(scratch.path('mariadb', 'tmp'), { recursive: true });
      try {
        await run('mariadb-install-db', [
          '--no-defaults',
          `--datadir=${datadir}`,
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
          '--user=root',
        ]);
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
    const server = new MariaDb(scratch, await freePort(), opts);
    await server.start();
    const conn = await server.connect();
    try {
      // mariadb-install-db makes root@localhost only; tests and sdl connect over TCP.
      await conn.query("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''");
      await conn.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION");
    } finally {
      await conn.end();
    }
    return server;
  }

  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc.running;
  }

  async start(): Promise<void> {
    this.proc.start();
    await waitForPort(this.port, 60_000, () => this.proc.running);
    // The port opens a moment before the server accepts logins.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const c = await this.connect();
        await c.end();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async stop(): Promise<void> {
    await this.proc.stop(60_000);
  }

  async kill9(): Promise<void> {
    await this.proc.kill9();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** A connection over the unix socket as root@localhost (works before the TCP user exists). */
  async connect(database?: string): Promise<mysql.Connection> {
    return mysql.createConnection({
      socketPath: this.scratch.path('mariadb', 'mysqld.sock'),
      user: 'root',
      database,
      multipleStatements: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      decimalNumbers: false,
    });
  }
}
