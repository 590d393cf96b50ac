import type { Collection, Db, Document } from 'mongodb';
import { classifyMongoError } from './errors.js';
import { collectionName, databaseName } from './names.js';

/** Collection names inside the sdl database (DESIGN.md, "MongoDB layout"). */
export const COLLECTIONS = {
  offsets: 'offsets',
  rowChanges: 'row_changes',
  staging: 'row_changes_staging',
  schemaHistory: 'schema_history',
  deadLetters: 'dead_letters',
  leases: 'leases',
  snapshots: 'snapshots',
  ddlSteps: 'ddl_steps',
} as const;

export const DEFAULT_SDL_DATABASE = 'sdl';

/** How long an applied staging document is kept (TTL where supported, explicit purge otherwise). */
export const APPLIED_STAGING_TTL_SECONDS = 3600;

/** Source database name → target MongoDB database name; unmapped names map to themselves. */
export type DatabaseMap = Readonly<Record<string, string>>;

export interface Namespace {
  db: string;
  collection: string;
}

/** Where a source table's mirror lives: `databaseMap` verbatim, else the mapped names (`names.ts`). */
export function mirrorNamespace(db: string, table: string, databaseMap: DatabaseMap = {}): Namespace {
  const mapped = Object.prototype.hasOwnProperty.call(databaseMap, db) ? databaseMap[db] : undefined;
  return { db: mapped ?? databaseName(db), collection: collectionName(table) };
}

// Loosely typed: each module that writes a collection owns its document shape.
export function sdlCollection(db: Db, name: (typeof COLLECTIONS)[keyof typeof COLLECTIONS]): Collection<Document> {
  return db.collection<Document>(name);
}

export interface EnsureIndexesResult {
  /** False where the server refused a TTL index (FerretDB 1.x): purge applied staging explicitly. */
  stagingTtl: boolean;
  /** Index specs the server refused, with its message, for a startup log line. */
  refused: string[];
}

/**
 * Creates the indexes the commit protocol relies on. Idempotent (createIndex with the same
 * spec is a no-op). Optional features the server lacks (TTL, partial indexes) are reported,
 * not fatal: startup must not fail because a cleanup index cannot exist.
 */
export async function ensureIndexes(db: Db): Promise<EnsureIndexesResult> {
  const refused: string[] = [];
  const required: [string, Document, string][] = [
    [COLLECTIONS.staging, { pipeline: 1, status: 1, order: 1 }, 'pipeline_status_order'],
    [COLLECTIONS.staging, { batch: 1 }, 'batch'],
    [COLLECTIONS.rowChanges, { db: 1, table: 1, key: 1 }, 'db_table_key'],
    [COLLECTIONS.rowChanges, { seq: 1 }, 'seq'],
    [COLLECTIONS.deadLetters, { replayed: 1, 'target.db': 1, 'target.collection': 1 }, 'replayed_target'],
    [COLLECTIONS.schemaHistory, { db: 1, 'position.order': 1 }, 'db_order'],
  ];
  for (const [coll, keys, name] of required) {
    await db.collection(coll).createIndex(keys, { name });
  }
  let stagingTtl = true;
  try {
    await db.collection(COLLECTIONS.staging).createIndex(
      { appliedAt: 1 },
      { name: 'applied_ttl', expireAfterSeconds: APPLIED_STAGING_TTL_SECONDS },
    );
  } catch (err) {
    if (classifyMongoError(err) === 'transient') throw err;
    stagingTtl = false;
    refused.push(`${COLLECTIONS.staging} applied_ttl: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { stagingTtl, refused };
}
