import type { MongoClient } from 'mongodb';
import type { Logger } from '../log.js';
import { dropMirror } from '../mongo/ddl.js';
import { mirrorNamespace, type DatabaseMap } from '../mongo/layout.js';
import { sourceName } from '../mongo/names.js';
import type { IncludeFilter } from '../mysql/include-filter.js';

export interface LeftoverScan {
  client: MongoClient;
  /** The sdl database: never a mirror database. */
  sdlDatabase: string;
  databaseMap: DatabaseMap;
  filter: IncludeFilter;
  /** The included tables the source has. */
  tables: readonly { db: string; table: string }[];
}

export interface LeftoverSweep extends LeftoverScan {
  /** The snapshot's start: every mirror document older than it predates the snapshot. */
  startSeq: string;
  /** Runs before each write (the single-writer fence). */
  fence?: () => Promise<void>;
  log: Logger;
}

/** A mirror collection whose source table (`db.table`) the source no longer has. */
export interface LeftoverMirror {
  db: string;
  collection: string;
  table: string;
}

const SERVER_DATABASES = new Set(['admin', 'local', 'config']);

/**
 * Mirrors of included tables the source no longer has: a table dropped while the binlog that
 * said so was lost (`--resnapshot` after a purge), or while sdl did not run against this MongoDB
 * (a restored backup). No chunk copies them and no DROP reaches them. A collection is a mirror
 * when its name is one sdl maps an included table to and it holds sdl's documents; a user's own
 * collection in a mirror database is not one. A collection name is never hashed (names.ts) for a
 * table MariaDB can create: 64 characters at most, of which at most 50 can be escaped within its
 * own 255-byte file names (`$` is `@0024` there), so 164 bytes. A database dropped whole whose
 * name was too long for MongoDB (hashed) is not found.
 */
export async function findLeftoverMirrors(s: LeftoverScan): Promise<LeftoverMirror[]> {
  const present = new Set(s.tables.map(({ db, table }) => nsKey(mirrorNamespace(db, table, s.databaseMap))));
  const listed = await s.client.db('admin').command({ listDatabases: 1, nameOnly: true, authorizedDatabases: true });
  const out: LeftoverMirror[] = [];
  for (const { name: target } of listed['databases'] as { name: string }[]) {
    if (target === s.sdlDatabase || SERVER_DATABASES.has(target)) continue;
    const sources = sourceDatabases(target, s.databaseMap, s.tables).filter((d) => s.filter.includesDb(d));
    if (sources.length === 0) continue;
    for (const c of await s.client.db(target).listCollections({ type: 'collection' }, { nameOnly: true }).toArray()) {
      if (c.name.startsWith('system.') || present.has(nsKey({ db: target, collection: c.name }))) continue;
      const table = sourceName(c.name, 'collection');
      const owner = table === undefined ? undefined : sources.find((db) => s.filter.includes(db, table));
      if (table === undefined || owner === undefined) continue;
      // Only sdl writes `_sdl`: a collection without it is the user's, whatever its name.
      const mirror = await s.client.db(target).collection(c.name).findOne({ '_sdl.pos': { $exists: true } }, { projection: { _id: 1 } });
      if (mirror !== null) out.push({ db: target, collection: c.name, table: `${owner}.${table}` });
    }
  }
  return out;
}

/**
 * The initial snapshot's end on `--resnapshot`: each leftover mirror goes as a replayed DROP
 * TABLE at the snapshot's start would (`dropMirror`): the collection, or only its older documents
 * when a newer one is there.
 */
export async function sweepLeftoverMirrors(s: LeftoverSweep): Promise<void> {
  for (const m of await findLeftoverMirrors(s)) {
    await s.fence?.();
    if (await dropMirror(s.client, { db: m.db, collection: m.collection }, s.startSeq)) {
      s.log.warn({ table: m.table, db: m.db, collection: m.collection }, `snapshot: ${m.table} no longer exists in the source: its mirror ${m.db}.${m.collection} is removed (dropped while the binlog that said so was lost)`);
    }
  }
}

const nsKey = (ns: { db: string; collection: string }): string => `${ns.db}\u0000${ns.collection}`;

/**
 * The source databases whose mirrors go to `target`: those databaseMap sends there, its namesake
 * unless mapped elsewhere, and a source database with a hashed name (too long) that maps there.
 */
function sourceDatabases(target: string, databaseMap: DatabaseMap, tables: readonly { db: string }[]): string[] {
  const out = new Set(Object.entries(databaseMap).filter(([, dst]) => dst === target).map(([src]) => src));
  const namesake = sourceName(target, 'database');
  if (namesake !== undefined && !Object.hasOwn(databaseMap, namesake)) out.add(namesake);
  for (const { db } of tables) if (mirrorNamespace(db, '', databaseMap).db === target) out.add(db);
  return [...out];
}
