import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoBulkWriteError, MongoClient, MongoServerError, type Document } from 'mongodb';
import { classifyMongoError } from '../../src/mongo/errors.js';
import { MongoServer } from '../support/mongo.js';
import { Scratch } from '../support/processes.js';

/**
 * The retry policy hangs on this classification: an outage classed permanent ends the process.
 * These are the driver's own error objects from real failures, not hand-made ones.
 */
describe('MongoDB error classification on real driver failures', () => {
  let scratch: Scratch;
  let mongo: MongoServer;
  before(async () => {
    scratch = new Scratch('sdl-errors-');
    mongo = await MongoServer.start(scratch);
  });
  after(async () => {
    await mongo?.stop();
    scratch?.dispose();
  });

  it('a bulk write that loses its server is transient, though the driver wraps it in MongoBulkWriteError', async (t) => {
    if (!mongo.controllable) return t.skip('SDL_TEST_MONGO_URL server cannot be killed by the harness');
    const client = new MongoClient(mongo.url, { serverSelectionTimeoutMS: 1000, socketTimeoutMS: 2000, heartbeatFrequencyMS: 500 });
    const errors: unknown[] = [];
    try {
      const coll = client.db('e').collection<Document>('t');
      await coll.insertOne({ warm: true });
      await mongo.kill9();
      // Once the monitor has marked the server unknown, writes wait for server selection and
      // fail with it; before that they meet a refused connection.
      await new Promise((r) => setTimeout(r, 1500));
      for (const write of [
        () => coll.bulkWrite([{ insertOne: { document: { a: 1 } } }], { ordered: false }),
        () => coll.insertMany([{ a: 1 }, { a: 2 }], { ordered: false }),
        () => coll.bulkWrite([{ insertOne: { document: { a: 3 } } }], { ordered: false }),
      ]) {
        errors.push(await write().then(() => undefined, (err: unknown) => err));
      }
    } finally {
      await client.close();
      await mongo.start();
    }
    for (const err of errors) {
      assert.ok(err instanceof MongoBulkWriteError, `expected the wrapped form, got ${String(err)}`);
      assert.equal(classifyMongoError(err), 'transient', `${String(err)} labels=${JSON.stringify(err.errorLabels)}`);
    }
    // The case that ended the process: a wrapped server-selection failure with no retry label.
    assert.ok(errors.some((e) => e instanceof MongoBulkWriteError && e.errorLabels.length === 0), 'no unlabelled wrapped failure was produced');
  });

  it('a document the server refuses stays permanent (it becomes a dead letter, not a retry loop)', async () => {
    const client = new MongoClient(mongo.url);
    try {
      const coll = client.db('e').collection<Document>('dup');
      await coll.insertOne({ _id: 1 } as Document);
      const dup = await coll.insertMany([{ _id: 1 } as Document], { ordered: false }).then(() => undefined, (err: unknown) => err);
      assert.ok(dup instanceof MongoServerError, String(dup));
      assert.equal(classifyMongoError(dup), 'permanent');
    } finally {
      await client.close();
    }
  });
});
