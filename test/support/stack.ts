import { MariaDb, type MariaDbOptions } from './mariadb.js';
import { MongoServer } from './mongo.js';
import { Scratch } from './processes.js';

/** One MariaDB and one MongoDB-wire server for a test file, torn down by stop() or by the reaper. */
export interface Stack {
  scratch: Scratch;
  mariadb: MariaDb;
  mongo: MongoServer;
  stop(): Promise<void>;
}

export async function startStack(opts: { mariadb?: MariaDbOptions; base?: string } = {}): Promise<Stack> {
  const scratch = new Scratch('sdl-test-', opts.base);
  try {
    const [mariadb, mongo] = await Promise.all([MariaDb.start(scratch, opts.mariadb), MongoServer.start(scratch)]);
    return {
      scratch,
      mariadb,
      mongo,
      async stop() {
        await Promise.allSettled([mariadb.stop(), mongo.stop()]);
        scratch.dispose();
      },
    };
  } catch (err) {
    // The reaper would clean up at exit, but a failed start should not hold ports until then.
    scratch.dispose();
    throw err;
  }
}

/**
 * A second MariaDB beside a stack, sharing its MongoDB-wire server: another source for the
 * same sdl database (two pipelines, a failover replica). Its stop() stops only what it added.
 */
export async function startSecondSource(stack: Stack, opts: MariaDbOptions = {}): Promise<Stack> {
  const scratch = new Scratch('sdl-test-b-');
  try {
    const mariadb = await MariaDb.start(scratch, opts);
    return {
      scratch,
      mariadb,
      mongo: stack.mongo,
      async stop() {
        await mariadb.stop();
        scratch.dispose();
      },
    };
  } catch (err) {
    scratch.dispose();
    throw err;
  }
}
