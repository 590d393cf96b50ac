import { createHash } from 'node:crypto';
import { MongoServerError, type Db, type Document, type Filter, type MongoClient } from 'mongodb';
import type { Batch, SchemaChange } from '../pipeline/types.js';
import { parseDdl, type DdlAction, type TableRef } from './ddl-parse.js';
import { SdlError } from '../errors.js';
import { classifyMongoError, DUPLICATE_KEY } from './errors.js';
import { runBulk } from './write-shape.js';
import { COLLECTIONS, mirrorNamespace, type DatabaseMap, type Namespace } from './layout.js';
import { positionKey, positionOrder, withoutJson } from './position.js';
import { snapshotSeq } from '../pipeline/sequence.js';

const NAMESPACE_NOT_FOUND = 26;

export interface DdlCounts {
  recorded: number;
  truncated: number;
  dropped: number;
  renamed: number;
  /** Mirror documents whose fields followed a DROP, RENAME or plain nullable ADD COLUMN. */
  altered: number;
}

/** Deterministic per statement: the batch's end position, its index in the batch, and a digest of its text. */
export function schemaHistoryId(batch: Batch, index: number, ddl: SchemaChange): string {
  const at = batch.end !== undefined ? positionKey(batch.end) : batch.id;
  const digest = createHash('sha256').update(`${ddl.db}\u0000${ddl.statement}`).digest('hex').slice(0, 16);
  return `${at}#${index}:${digest}`;
}

/**
 * Records each statement in `schema_history` and applies what it means for the mirrors.
 * A DDL closes the batch before it, so a batch's statements precede its row changes: they
 * run first. Every step is idempotent (a replay finds the mirror already emptied, gone or
 * renamed), and none runs inside a transaction, where MongoDB forbids drop and rename.
 */
export async function applyDdl(client: MongoClient, sdl: Db, batch: Batch, databaseMap: DatabaseMap = {}): Promise<DdlCounts> {
  const out: DdlCounts = { recorded: 0, truncated: 0, dropped: 0, renamed: 0, altered: 0 };
  const history = sdl.collection<Document>(COLLECTIONS.schemaHistory);
  // Documents at or past the statement's end hold row images read after it: see olderThan.
  const since = batch.end === undefined ? undefined : snapshotSeq(batch.end);
  for (const [i, ddl] of batch.ddl.entries()) {
    const action = ddl.action ?? parseDdl(ddl.statement, ddl.db);
    const ns = (t: TableRef): Namespace => mirrorNamespace(t.db, t.table, databaseMap);
    switch (action.kind) {
      case 'replace':
        // The old table's rows are gone; a `… SELECT` brings the new ones as row events after this.
        if (await dropMirror(client, ns(action.table), since)) out.dropped++;
        break;
      case 'drop-database':
        out.dropped += await dropDatabaseMirrors(client, sdl, action.db, databaseMap, batch, since);
        break;
      case 'alter':
        out.altered += await alterMirror(client, ns(action.table), action, since);
        break;
      case 'create':
        break;
      case 'truncate':
        await client.db(ns(action.table).db).collection(ns(action.table).collection).deleteMany(olderThan(since));
        out.truncated++;
        break;
      case 'drop':
        for (const t of action.tables) {
          if (await dropMirror(client, ns(t), since)) out.dropped++;
        }
        break;
      case 'rename': {
        // A chain or swap (`b TO c, a TO b`; `a TO t, b TO a, t TO b`) applied again would move
        // what it already moved: the pairs done are recorded, and a replay goes on after them.
        const steps = sdl.collection<{ _id: string; done: number }>(COLLECTIONS.ddlSteps);
        const stepId = `${batch.id}#${i}@${since ?? ''}`;
        const done = action.pairs.length > 1 ? (await steps.findOne({ _id: stepId }))?.done ?? 0 : 0;
        for (const [k, p] of action.pairs.entries()) {
          if (k < done) continue;
          if (await renameMirror(client, ns(p.from), ns(p.to), since)) out.renamed++;
          if (action.pairs.length > 1) await steps.updateOne({ _id: stepId }, { $set: { done: k + 1, at: new Date() } }, { upsert: true });
        }
        // After the whole chain: a swap through a name left out (a TO tmp, b TO a, tmp TO b) keeps its mirrors.
        for (const t of action.leaving ?? []) {
          if (await dropMirror(client, ns(t), since)) out.dropped++;
        }
        break;
      }
      case 'other':
        break;
    }
    const doc = historyDoc(batch, i, ddl, action);
    await history.updateOne({ _id: doc['_id'] as string } as Document, { $setOnInsert: doc }, { upsert: true });
    out.recorded++;
  }
  return out;
}

function historyDoc(batch: Batch, index: number, ddl: SchemaChange, action: DdlAction): Document {
  return {
    _id: schemaHistoryId(batch, index, ddl),
    db: ddl.db,
    statement: ddl.statement,
    action: action.kind,
    position: batch.end === undefined ? null : { ...withoutJson(batch.end), order: positionOrder(batch.end) },
    batch: batch.id,
    ts: new Date(batch.lastTs),
    recordedAt: new Date(),
  };
}

/**
 * Every mirror of a dropped source database. Collections of one MongoDB database cannot be told
 * apart by source database, so one shared with another source database (databaseMap) or holding
 * sdl's own collections stops the pipeline instead of dropping what is not this database's.
 */
async function dropDatabaseMirrors(client: MongoClient, sdl: Db, db: string, databaseMap: DatabaseMap, batch: Batch, since: string | undefined): Promise<number> {
  const target = mirrorNamespace(db, '', databaseMap).db;
  const sharers = Object.entries(databaseMap).filter(([src, dst]) => src !== db && dst === target);
  // An unmapped source database named like the target writes its mirrors there too.
  const unmappedNamesake = target !== db && !Object.hasOwn(databaseMap, target);
  if (target === sdl.databaseName || sharers.length > 0 || unmappedNamesake) {
    throw new SdlError('UNSUPPORTED_EVENT',
      `DROP DATABASE \`${db}\` at ${batch.end === undefined ? batch.id : `${batch.end.file}:${batch.end.pos}${batch.end.gtid === undefined ? '' : ` (GTID ${batch.end.gtid})`}`}: its mirrors share the MongoDB database \`${target}\` with other data, so they cannot be told apart`,
      'permanent', `drop the mirrors of \`${db}\` in \`${target}\` by hand, then move the checkpoint past this statement; to prevent it, map each source database to its own MongoDB database`);
  }
  let n = 0;
  for (const c of await client.db(target).listCollections({}, { nameOnly: true }).toArray()) {
    if (c.name.startsWith('system.')) continue;
    if (await dropMirror(client, { db: target, collection: c.name }, since)) n++;
  }
  return n;
}

/**
 * A dropped column leaves every mirror document exactly (its field and raw text go); a renamed
 * one moves its field; a plain nullable column added is null in every row. `_sdl.h` hashed the
 * old image: it becomes null (unknown) rather than wrong. Order as in the statement's effect:
 * drops, renames, then adds (so `DROP a, ADD a` leaves a null).
 *
 * Only documents older than the statement are changed (olderThan): an ADD COLUMN's null would
 * otherwise stay over the value a newer image holds, since the changes that set it are older
 * than that image and the position guard skips them.
 */
async function alterMirror(client: MongoClient, ns: Namespace, action: Extract<DdlAction, { kind: 'alter' }>, since: string | undefined): Promise<number> {
  const unset: Document = {};
  for (const col of action.dropColumns) {
    unset[col] = '';
    unset[`_sdl.raw.${col}`] = '';
  }
  const rename: Document = {};
  for (const r of action.renameColumns) {
    rename[r.from] = r.to;
    rename[`_sdl.raw.${r.from}`] = `_sdl.raw.${r.to}`;
  }
  const add: Document = {};
  for (const col of action.addNullColumns) add[col] = null;
  if (Object.keys(unset).length + Object.keys(rename).length + Object.keys(add).length === 0) return 0;
  const coll = client.db(ns.db).collection<Document>(ns.collection);
  const older = olderThan(since);
  let n = 0;
  if (Object.keys(unset).length > 0) n += (await coll.updateMany(older, { $unset: unset, $set: { '_sdl.h': null } })).modifiedCount;
  if (Object.keys(rename).length > 0) n += (await coll.updateMany(older, { $rename: rename, $set: { '_sdl.h': null } })).modifiedCount;
  if (Object.keys(add).length > 0) n += (await coll.updateMany(older, { $set: { ...add, '_sdl.h': null } })).modifiedCount;
  return n;
}

/**
 * What a DDL replayed at `since` (the seq of its end) acts on: mirror documents older than it.
 * A document at or past it holds a row image read after the statement, by a snapshot view or
 * `verify --repair` ahead of a lagging stream (a resumed or per-chunk initial snapshot, an
 * online copy, a repair while sdl is behind): the table as the statement left it, already in
 * the mirror. Without `since` (no position: not a streamed batch) every document is older.
 */
function olderThan(since: string | undefined): Filter<Document> {
  return since === undefined ? {} : { '_sdl.pos': { $lt: since } };
}

async function hasNewer(client: MongoClient, ns: Namespace, since: string | undefined): Promise<boolean> {
  if (since === undefined) return false;
  return (await client.db(ns.db).collection<Document>(ns.collection).findOne({ '_sdl.pos': { $gte: since } }, { projection: { _id: 1 } })) !== null;
}

/** DROP TABLE (and CREATE OR REPLACE, DROP DATABASE): the whole collection unless a newer image is in it, then only the older documents. */
export async function dropMirror(client: MongoClient, ns: Namespace, since: string | undefined): Promise<boolean> {
  if (!(await exists(client, ns))) return false;
  if (!(await hasNewer(client, ns, since))) return dropIfExists(client, ns);
  return (await client.db(ns.db).collection(ns.collection).deleteMany(olderThan(since))).deletedCount > 0;
}

/**
 * RENAME TABLE: the collection moves, unless either side holds a newer image (the table under
 * either name read after the statement); then the documents older than it are merged into the
 * new name where nothing at least as new is stored there, and deleted from the old name. Each
 * step is idempotent, so a replay after a crash part-way merges what is left.
 */
async function renameMirror(client: MongoClient, from: Namespace, to: Namespace, since: string | undefined): Promise<boolean> {
  if (!(await exists(client, from))) return false;
  if (!(await hasNewer(client, from, since)) && !((await exists(client, to)) && (await hasNewer(client, to, since)))) return renameIfExists(client, from, to);
  const src = client.db(from.db).collection<Document>(from.collection);
  const dst = client.db(to.db).collection<Document>(to.collection);
  let moved = 0;
  let buf: Document[] = [];
  const flush = async (): Promise<void> => {
    if (buf.length === 0) return;
    const writes = buf.map((d) => ({ replaceOne: { filter: { _id: d['_id'] as unknown, '_sdl.pos': { $lte: (d['_sdl'] as Document)['pos'] as string } } as Filter<Document>, replacement: d, upsert: true } }));
    const { failures } = await runBulk(() => dst.bulkWrite(writes, { ordered: false }));
    // A duplicate key is the guard at work: the new name already holds a newer image of that row.
    const refused = failures.find((f) => f.code !== DUPLICATE_KEY);
    if (refused !== undefined) throw new SdlError('UNEXPECTED', `RENAME of ${from.db}.${from.collection} to ${to.db}.${to.collection}: MongoDB refused a document it holds already: ${refused.message}`, 'permanent');
    moved += buf.length;
    buf = [];
  };
  for await (const d of src.find(olderThan(since), { promoteValues: false })) {
    buf.push(d);
    if (buf.length >= 500) await flush();
  }
  await flush();
  await src.deleteMany(olderThan(since));
  if ((await src.countDocuments({})) === 0) await dropIfExists(client, from);
  return moved > 0;
}

async function exists(client: MongoClient, ns: Namespace): Promise<boolean> {
  return (await client.db(ns.db).listCollections({ name: ns.collection }, { nameOnly: true }).toArray()).length > 0;
}

async function dropIfExists(client: MongoClient, ns: Namespace): Promise<boolean> {
  // FerretDB answers ok to dropping a missing collection; ask first so replays count nothing.
  if (!(await exists(client, ns))) return false;
  try {
    return await client.db(ns.db).collection(ns.collection).drop();
  } catch (err) {
    if (err instanceof MongoServerError && err.code === NAMESPACE_NOT_FOUND) return false;
    throw err;
  }
}

async function renameIfExists(client: MongoClient, from: Namespace, to: Namespace): Promise<boolean> {
  // Replay after the rename already happened: nothing left to move.
  if (!(await exists(client, from))) return false;
  // FerretDB 1.x has no dropTarget: a leftover target (the source would have refused the rename) goes first.
  await dropIfExists(client, to);
  try {
    await client.db('admin').command({ renameCollection: `${from.db}.${from.collection}`, to: `${to.db}.${to.collection}` });
    return true;
  } catch (err) {
    if (err instanceof MongoServerError && err.code === NAMESPACE_NOT_FOUND) return false;
    if (classifyMongoError(err) === 'transient' || from.db === to.db) throw err;
  }
  // FerretDB 1.x cannot rename across databases: copy (idempotently), then drop the source.
  await copyCollection(client, from, to);
  await client.db(from.db).collection(from.collection).drop();
  return true;
}

async function copyCollection(client: MongoClient, from: Namespace, to: Namespace): Promise<void> {
  const src = client.db(from.db).collection<Document>(from.collection);
  const dst = client.db(to.db).collection<Document>(to.collection);
  await dst.deleteMany({});
  let buf: Document[] = [];
  const flush = async (): Promise<void> => {
    if (buf.length === 0) return;
    await dst.bulkWrite(buf.map((d) => ({ replaceOne: { filter: { _id: d['_id'] as unknown } as Filter<Document>, replacement: d, upsert: true } })), { ordered: false });
    buf = [];
  };
  for await (const d of src.find({}, { promoteValues: false })) {
    buf.push(d);
    if (buf.length >= 500) await flush();
  }
  await flush();
}
