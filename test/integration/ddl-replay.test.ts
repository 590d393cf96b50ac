import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Document, MongoClient } from 'mongodb';
import { applyDdl } from '../../src/mongo/ddl.js';
import { COLLECTIONS, ensureIndexes } from '../../src/mongo/layout.js';
import { changeSeq, snapshotSeq } from '../../src/pipeline/sequence.js';
import type { Batch, SourcePosition } from '../../src/pipeline/types.js';
import type { Stack } from '../support/stack.js';
import { closeStack, connectedStack } from '../support/target.js';

/** The statement's end: every image below it is older than the statement, every one at or past it was read after. */
const AT: SourcePosition = { file: 'binlog.000002', pos: 5000 };
const OLD = changeSeq(0, 2, 1000, 0);
const NEW = snapshotSeq({ file: 'binlog.000002', pos: 9000 });

function ddlBatch(db: string, statement: string): Batch {
  return { id: `ddl@${AT.pos}`, end: AT, lastTs: 0, changes: [], ddl: [{ db, statement }], rows: 0, bytes: 0 };
}

function doc(id: number, pos: string, fields: Document = {}): Document {
  return { _id: id, ...fields, _sdl: { pos, op: pos === NEW ? 'r' : 'insert', h: 'x' } };
}

/**
 * A DDL the stream applies (or replays, behind a snapshot view, an online copy or `verify
 * --repair` that read the table after it) acts only on mirror documents older than the
 * statement: one at or past it holds a row image read after the statement and is right as it
 * is. Against the MongoDB-wire server, each statement applied twice (a replay changes nothing).
 */
describe('DDL replayed behind images read after it: only older documents change', () => {
  let stack: Stack;
  let client: MongoClient;
  let serial = 0;

  before(async () => {
    ({ stack, client } = await connectedStack());
  });
  after(() => closeStack({ stack, client }));

  async function fresh(collections: Record<string, Document[]>): Promise<string> {
    serial++;
    const db = `replay${serial}`;
    for (const [name, docs] of Object.entries(collections)) {
      if (docs.length > 0) await client.db(db).collection(name).insertMany(docs);
      else await client.db(db).createCollection(name);
    }
    return db;
  }

  async function applyTwice(db: string, statement: string): Promise<void> {
    const sdl = client.db(`sdl_replay${serial}`);
    await ensureIndexes(sdl);
    await applyDdl(client, sdl, ddlBatch(db, statement));
    await applyDdl(client, sdl, ddlBatch(db, statement));
  }

  async function ids(db: string, name: string): Promise<number[] | null> {
    const found = await client.db(db).listCollections({ name }, { nameOnly: true }).toArray();
    if (found.length === 0) return null;
    return (await client.db(db).collection(name).find({}).toArray()).map((d) => Number(d['_id'])).sort((a, b) => a - b);
  }

  it('TRUNCATE deletes the older documents and keeps a newer one', async () => {
    const db = await fresh({ t: [doc(1, OLD), doc(2, OLD), doc(3, NEW)] });
    await applyTwice(db, 'TRUNCATE TABLE t');
    assert.deepEqual(await ids(db, 't'), [3]);
  });

  it('DROP TABLE drops the collection, or with a newer document in it deletes only the older ones', async () => {
    const db = await fresh({ gone: [doc(1, OLD)], back: [doc(1, OLD), doc(2, NEW)] });
    await applyTwice(db, 'DROP TABLE gone, back');
    assert.equal(await ids(db, 'gone'), null);
    assert.deepEqual(await ids(db, 'back'), [2]);
  });

  it('RENAME with no newer document on either side moves the collection whole', async () => {
    const db = await fresh({ a: [doc(1, OLD), doc(2, OLD)] });
    await applyTwice(db, 'RENAME TABLE a TO b');
    assert.equal(await ids(db, 'a'), null);
    assert.deepEqual(await ids(db, 'b'), [1, 2]);
  });

  it('RENAME onto a name read after it: the older documents join it where it holds nothing newer; a newer one of the old name stays', async () => {
    const db = await fresh({
      a: [doc(1, OLD, { v: 'a1' }), doc(2, OLD, { v: 'a2' }), doc(9, NEW, { v: 'new table a' })],
      b: [doc(2, NEW, { v: 'b2 read after the rename' }), doc(3, NEW, { v: 'b3' })],
    });
    await applyTwice(db, 'RENAME TABLE a TO b');
    assert.deepEqual(await ids(db, 'a'), [9]);
    const b = await client.db(db).collection('b').find({}).sort({ _id: 1 }).toArray();
    assert.deepEqual(b.map((d): unknown[] => [d['_id'], d['v']]), [[1, 'a1'], [2, 'b2 read after the rename'], [3, 'b3']]);
  });

  it('RENAME chain and swap: each name ends with what it holds at the source', async () => {
    const db = await fresh({ x: [doc(1, OLD, { v: 'x' })], y: [doc(1, OLD, { v: 'y' })] });
    await applyTwice(db, 'RENAME TABLE x TO tmp, y TO x, tmp TO y');
    assert.equal((await client.db(db).collection('x').findOne({ _id: 1 } as Document))?.['v'], 'y');
    assert.equal((await client.db(db).collection('y').findOne({ _id: 1 } as Document))?.['v'], 'x');
    assert.equal(await ids(db, 'tmp'), null);
  });

  it('a swap whose apply stopped after its first pair (a crash) goes on from the second when applied again', async () => {
    const db = await fresh({ tmp: [doc(1, OLD, { v: 'x' })], y: [doc(1, OLD, { v: 'y' })] });
    const statement = 'RENAME TABLE x TO tmp, y TO x, tmp TO y';
    await client.db(`sdl_replay${serial}`).collection(COLLECTIONS.ddlSteps).insertOne({ _id: `${ddlBatch(db, statement).id}#0@${snapshotSeq(AT)}`, done: 1 } as Document);
    await applyTwice(db, statement);
    assert.equal((await client.db(db).collection('x').findOne({ _id: 1 } as Document))?.['v'], 'y');
    assert.equal((await client.db(db).collection('y').findOne({ _id: 1 } as Document))?.['v'], 'x');
    assert.equal(await ids(db, 'tmp'), null);
  });

  it('ALTER ADD / DROP / RENAME COLUMN changes the older documents and leaves a newer one as read', async () => {
    const db = await fresh({ t: [doc(1, OLD, { a: 1, gone: 'g', old: 'o' }), doc(2, NEW, { a: 2, c: 'set', renamed: 'r' })] });
    await applyTwice(db, 'ALTER TABLE t ADD COLUMN c VARCHAR(5) NULL, DROP COLUMN gone, RENAME COLUMN old TO renamed');
    const [older, newer] = await client.db(db).collection('t').find({}).sort({ _id: 1 }).toArray();
    assert.deepEqual({ ...older, _sdl: undefined }, { _id: 1, a: 1, c: null, renamed: 'o', _sdl: undefined });
    assert.equal((older?.['_sdl'] as Document)['h'], null);
    assert.deepEqual(newer, doc(2, NEW, { a: 2, c: 'set', renamed: 'r' }));
  });
});
