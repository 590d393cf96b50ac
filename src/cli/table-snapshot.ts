import { setTimeout as sleep } from 'node:timers/promises';
import { type Db, MongoClient } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import type { Config } from '../config/config.js';
import { classifyMysqlError, errorInfo, SdlError } from '../errors.js';
import { COLLECTIONS } from '../mongo/layout.js';
import { readCheckpoint } from '../mongo/offsets.js';
import { classifyMongoError, reasonOf } from '../mongo/errors.js';
import { readTableSnapshot, requestTableSnapshot, type TableSnapshotDoc } from '../mongo/table-snapshots.js';
import { connectExact } from '../mysql/connection.js';
import { IncludeFilter } from '../mysql/include-filter.js';
import { listTables } from '../mysql/information-schema.js';

/**
 * `sdl snapshot --tables db.t,…` on a pipeline that streams: asks the running `sdl run` (through
 * request documents in `sdl.snapshots`) to copy these tables again online, then waits, printing
 * their progress, until every one is copied (exit 0; 1 when the instance refused one: a MySQL
 * source). Without a live instance the requests wait
 * for the next `sdl run`, and this says so and exits 0. Exit 2: a name that is not an included
 * table, or a pipeline without a checkpoint (the plain `sdl snapshot` takes the initial one).
 */
export async function tableSnapshotCommand(config: Config, names: readonly string[], opts: { pollMs?: number } = {}): Promise<number> {
  const tables = await includedTables(config, names);
  const client = new MongoClient(config.mongo.url, { serverSelectionTimeoutMS: 10_000 });
  try {
    const db = client.db(config.mongo.database);
    if ((await readCheckpoint(db, config.pipeline)) === null) {
      throw new SdlError('NO_CHECKPOINT', `pipeline ${config.pipeline} has no checkpoint: there is no stream to re-snapshot tables beside`, 'config', '`sdl snapshot` (without --tables) or `sdl run` takes the initial snapshot of every included table');
    }
    for (const t of tables) await requestTableSnapshot(db, config.pipeline, t, 'requested by sdl snapshot --tables');
    const list = tables.map((t) => `${t.db}.${t.table}`).join(', ');
    const lease = await db.collection<{ _id: string; owner: string; expiresAt: Date }>(COLLECTIONS.leases).findOne({ _id: config.pipeline });
    if (lease === null || lease.expiresAt.getTime() < Date.now()) {
      process.stdout.write(`requested an online snapshot of ${list}; no sdl run holds pipeline ${config.pipeline} now: the next \`sdl run\` copies them\n`);
      return 0;
    }
    process.stdout.write(`requested an online snapshot of ${list}; ${lease.owner} copies them while streaming\n`);
    const pending = new Set(tables.map((t) => `${t.db}.${t.table}`));
    const shown = new Map<string, number>();
    const refused: string[] = [];
    const outage = { since: null as number | null };
    while (pending.size > 0) {
      for (const t of tables) {
        const name = `${t.db}.${t.table}`;
        if (!pending.has(name)) continue;
        const doc = await progressOf(db, config.pipeline, t, outage);
        if (doc === null) continue;
        if (doc.done && doc.reason.includes('refused')) {
          pending.delete(name);
          refused.push(name);
          process.stdout.write(`${name}: not copied (${doc.reason}; the sdl run log says why)\n`);
        } else if (doc.done) {
          pending.delete(name);
          process.stdout.write(`${name}: copied (${doc.rows} rows read, ${doc.skipped} of them left to newer streamed changes)\n`);
        } else if (shown.get(name) !== doc.rows) {
          shown.set(name, doc.rows);
          process.stdout.write(`${name}: ${doc.rows} rows read\n`);
        }
      }
      if (pending.size > 0) await sleep(opts.pollMs ?? 1000);
    }
    return refused.length === 0 ? 0 : 1;
  } finally {
    await client.close();
  }
}

/**
 * The request's progress, or null while MongoDB cannot be read: the copy goes on inside `sdl run`
 * (which rides the outage out), so the wait does too, saying so once, instead of exiting 1 with
 * the copy half done.
 */
async function progressOf(db: Db, pipeline: string, t: { db: string; table: string }, outage: { since: number | null }): Promise<TableSnapshotDoc | null> {
  try {
    const doc = await readTableSnapshot(db, pipeline, t);
    if (outage.since !== null) process.stdout.write(`MongoDB reachable again after ${Math.round((Date.now() - outage.since) / 1000)} s\n`);
    outage.since = null;
    return doc;
  } catch (err) {
    if (classifyMongoError(err) !== 'transient') throw err;
    if (outage.since === null) process.stdout.write(`MongoDB unreachable (${reasonOf(err).message}); still waiting: sdl run goes on copying\n`);
    outage.since ??= Date.now();
    return null;
  }
}

async function includedTables(config: Config, names: readonly string[]): Promise<{ db: string; table: string }[]> {
  let conn: Connection;
  try {
    conn = await connectExact(config.mysql.url);
  } catch (err) {
    // Nothing is requested yet: a source that cannot be reached loses nothing, but must be named.
    const info = errorInfo(err, classifyMysqlError);
    throw new SdlError(info.code, `MySQL (listing the tables to re-snapshot): ${info.message}; nothing was requested`, info.errorClass, info.hint ?? 'check that the MySQL server of mysql.url (SDL_MYSQL_URL) is up and reachable from here, then run the command again');
  }
  try {
    const filter = new IncludeFilter(config.mysql.include);
    const all = await listTables(conn, (d) => filter.includesDb(d), (d, t) => filter.includes(d, t));
    const byName = new Map(all.map((t) => [`${t.db}.${t.table}`, t]));
    const unknown = names.filter((n) => !byName.has(n));
    if (unknown.length > 0 || names.length === 0) {
      throw new SdlError('UNKNOWN_TABLE', `--tables: ${names.length === 0 ? 'no table named' : `${unknown.join(', ')} ${unknown.length === 1 ? 'is not an included table' : 'are not included tables'}`}`, 'config', 'name tables as db.table, each one in mysql.include (SDL_INCLUDE)');
    }
    return names.map((n) => byName.get(n)).filter((t): t is { db: string; table: string } => t !== undefined);
  } finally {
    await conn.end();
  }
}
