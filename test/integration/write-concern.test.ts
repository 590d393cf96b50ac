import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CommandStartedEvent } from 'mongodb';
import { commitBatch, type CommitContext } from '../../src/mongo/commit.js';
import { writeDeadLetters } from '../../src/mongo/dead-letters.js';
import { ensureIndexes } from '../../src/mongo/layout.js';
import { acquireLease, renewLease } from '../../src/mongo/lease.js';
import { saveSnapshotProgress } from '../../src/mongo/snapshot-progress.js';
import { MongoTarget } from '../../src/mongo/target.js';
import { batch, change, endAt } from '../support/batches.js';
import { startStack, type Stack } from '../support/stack.js';

const WRITES = new Set(['insert', 'update', 'delete', 'findAndModify', 'createIndexes']);

/** The write commands a target's client sent, with the write concern each carried. */
async function writesOf(url: string, allowWeak: boolean, database: string): Promise<{ command: string; collection: string; writeConcern: unknown }[]> {
  const target = new MongoTarget({ url, database, allowWeakWriteConcern: allowWeak }, { monitorCommands: true, serverSelectionTimeoutMS: 5000 });
  const seen: { command: string; collection: string; writeConcern: unknown }[] = [];
  try {
    // The probe writes of connect() try concerns on purpose; what follows is sdl's own writing.
    const { client, db, caps } = await target.connect();
    client.on('commandStarted', (e: CommandStartedEvent) => {
      if (WRITES.has(e.commandName)) seen.push({ command: e.commandName, collection: String(e.command[e.commandName]), writeConcern: e.command['writeConcern'] });
    });
    await ensureIndexes(db);
    const ctx: CommitContext = { client, db, caps, pipeline: 'wc' };
    const src = `${database}_src`;
    // Staging, event log, mirrors, checkpoint, staging marked applied.
    await commitBatch(ctx, batch([change({ op: 'insert', db: src, key: 1, after: { id: 1, v: 'a' }, n: 1 }), change({ op: 'delete', db: src, key: 1, before: { id: 1, v: 'a' }, n: 2 })], { end: endAt(2) }));
    await writeDeadLetters(db, [{ change: change({ op: 'insert', db: src, key: 2, after: { id: 2 }, n: 3 }), target: { kind: 'mirror', db: src, collection: 't' }, reason: { code: 1, message: 'simulated' } }]);
    const lease = await acquireLease(db, 'wc', 'me', 5000, () => undefined);
    await renewLease(db, 'wc', lease, 5000);
    await saveSnapshotProgress(db, { _id: 'wc', start: endAt(1), startedAt: new Date(), done: [], current: null, rows: 0, views: 1, updatedAt: new Date() });
  } finally {
    await target.close();
  }
  return seen;
}

describe('one write concern for every write', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  for (const [name, options, allowWeak, expected] of [
    ['the default', {}, false, { w: 'majority', j: true }],
    ['w=1 in mongo.url, allowed', { w: '1' }, true, { w: 1, j: true }],
  ] as const) {
    it(`${name}: staging, events, mirrors, checkpoint, dead letters, lease and snapshot progress all carry ${JSON.stringify(expected)}`, async () => {
      const u = new URL(stack.mongo.url);
      for (const [k, v] of Object.entries(options)) u.searchParams.set(k, v);
      const seen = await writesOf(u.toString(), allowWeak, `wc_${name.length}`);
      const collections = new Set(seen.map((s) => s.collection));
      for (const c of ['row_changes_staging', 'row_changes', 't', 'offsets', 'dead_letters', 'leases', 'snapshots']) assert.ok(collections.has(c), `no write to ${c} seen: ${[...collections].join(', ')}`);
      const other = seen.filter((s) => JSON.stringify(s.writeConcern) !== JSON.stringify(expected));
      assert.deepEqual(other, [], 'writes with another write concern');
    });
  }
});
