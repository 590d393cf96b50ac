import type { Db, MongoClient } from 'mongodb';
import { dropMirror } from '../mongo/ddl.js';
import type { DatabaseMap } from '../mongo/layout.js';
import { connectExact } from '../mysql/connection.js';
import { IncludeFilter } from '../mysql/include-filter.js';
import { listTables } from '../mysql/information-schema.js';
import { openSnapshotView } from '../mysql/snapshot-view.js';
import { snapshotSeq } from '../pipeline/sequence.js';
import { findLeftoverMirrors, type LeftoverMirror } from '../snapshot/leftover-mirrors.js';
import { CheckpointWatch } from './checkpoint-watch.js';

export interface OrphanCheck {
  mysqlUrl: string;
  include: readonly string[];
  client: MongoClient;
  /** The sdl database, whose checkpoint says how far the mirrors have caught up. */
  sdlDb: Db;
  pipeline: string;
  databaseMap: DatabaseMap;
  settle?: { stallMs?: number; pollMs?: number };
  /** Drop each orphan (only its documents older than the check, should a newer table have written since). */
  repair: boolean;
}

/** A mirror collection of an included table the source does not have; `removed` with --repair. */
export interface OrphanMirror extends LeftoverMirror {
  removed?: boolean;
}

/**
 * `sdl verify` over the whole pipeline: mirrors of included tables the source no longer has
 * (dropped while sdl did not see it, or a MongoDB restored from an old backup), which no per-table
 * comparison finds. Exact while sdl runs: a table dropped a moment ago has its DROP still in the
 * stream, so a candidate is looked for again in two rounds that each take a source position, wait
 * for the checkpoint to pass it (or to stand still: sdl stopped), then list the tables; only what
 * every round finds is reported (a table dropped between a round's position and its listing is
 * gone by the next).
 */
export async function orphanMirrors(o: OrphanCheck): Promise<OrphanMirror[]> {
  const conn = await connectExact(o.mysqlUrl);
  try {
    const [v] = await conn.query('SELECT VERSION() AS v');
    const mariadb = /mariadb/i.test(String((v as { v: string }[])[0]?.v ?? ''));
    const filter = new IncludeFilter(o.include);
    const watch = new CheckpointWatch(o.sdlDb, o.pipeline, o.settle);
    const key = (m: LeftoverMirror): string => `${m.db}\u0000${m.collection}`;
    const scan = async (): Promise<LeftoverMirror[]> => {
      const tables = await listTables(conn, (d) => filter.includesDb(d), (d, t) => filter.includes(d, t));
      return findLeftoverMirrors({ client: o.client, sdlDatabase: o.sdlDb.databaseName, databaseMap: o.databaseMap, filter, tables });
    };
    // Without a candidate nothing is waited for: the common case, and sdl may be stopped.
    let found = await scan();
    let since = '';
    for (let round = 0; round < 2 && found.length > 0; round++) {
      const pos = await openSnapshotView(conn, mariadb);
      await conn.query('COMMIT');
      await watch.reach(pos);
      since = snapshotSeq({ ...pos, epoch: await watch.epoch() });
      const before = new Set(found.map(key));
      found = (await scan()).filter((m) => before.has(key(m)));
    }
    const out: OrphanMirror[] = found;
    if (o.repair) for (const m of out) m.removed = await dropMirror(o.client, { db: m.db, collection: m.collection }, since);
    return out;
  } finally {
    await conn.end();
  }
}
