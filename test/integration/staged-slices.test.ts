import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MongoClient } from 'mongodb';
import { FaultInjected } from '../../src/faults.js';
import type { Capabilities } from '../../src/mongo/capabilities.js';
import { commitBatch, recoverPending, type CommitContext } from '../../src/mongo/commit.js';
import { COLLECTIONS } from '../../src/mongo/layout.js';
import { readCheckpoint } from '../../src/mongo/offsets.js';
import type { Batch, DecodedChange } from '../../src/pipeline/types.js';
import { batch, change, endAt, seqOf } from '../support/batches.js';
import type { Stack } from '../support/stack.js';
import { closeStack, connectedStack } from '../support/target.js';

/**
 * One source transaction (GTID 0-1-5) streamed in slices, as the batcher hands them on: two
 * open slices, then the closing batch, which also carries the next transaction (0-1-6). Every
 * slice writes key 1, so the mirror shows whether they were applied in order.
 */
function group(src: string): { open: Batch[]; closing: Batch; all: DecodedChange[] } {
  const row = (op: 'insert' | 'update', key: number, v: string, k: number): DecodedChange => ({ ...change({ op, db: src, key, after: { id: key, v }, n: 5 }), id: `0-1-5#${k}`, seq: seqOf(5, k) });
  const slice = { group: '0-1-5', open: true };
  const first = { ...batch([row('insert', 1, 'a', 0), row('insert', 2, 'a', 1)], { end: null }), slice };
  const second = { ...batch([row('update', 1, 'b', 2), row('insert', 3, 'b', 3)], { end: null }), slice };
  const later = change({ op: 'update', db: src, key: 2, after: { id: 2, v: 'later' }, n: 6 });
  const closing = { ...batch([row('update', 1, 'c', 4), later], { end: endAt(6) }), slice: { group: '0-1-5', open: false } };
  return { open: [first, second], closing, all: [...first.changes, ...second.changes, ...closing.changes] };
}

describe('a source transaction streamed through staging in slices', () => {
  let stack: Stack;
  let client: MongoClient;
  let caps: Capabilities;
  let serial = 0;

  function fresh(): { ctx: CommitContext; src: string } {
    serial++;
    return { ctx: { client, db: client.db(`sdl_s${serial}`), caps, pipeline: 'main' }, src: `slices${serial}` };
  }
  const mirror = async (src: string): Promise<[unknown, unknown][]> => (await client.db(src).collection<{ _id: number; v: string }>('t').find().sort({ _id: 1 }).toArray()).map((d) => [d._id, d.v]);
  const staged = (ctx: CommitContext, status: string): Promise<number> => ctx.db.collection(COLLECTIONS.staging).countDocuments({ status });
  const events = (ctx: CommitContext): Promise<number> => ctx.db.collection(COLLECTIONS.rowChanges).countDocuments();
  async function faulted(point: string, fn: () => Promise<unknown>): Promise<void> {
    process.env['SDL_FAULT'] = `${point}:throw`;
    try {
      await assert.rejects(fn(), FaultInjected);
    } finally {
      delete process.env['SDL_FAULT'];
    }
  }

  before(async () => {
    ({ stack, client, caps } = await connectedStack());
  });
  after(() => closeStack({ stack, client }));

  it('stages open slices without applying them or moving the checkpoint; the closing batch applies them in order, then itself, then checkpoints', async () => {
    const { ctx, src } = fresh();
    const g = group(src);
    for (const b of g.open) {
      const r = await commitBatch(ctx, b);
      assert.equal(r.eventsInserted, 0);
      assert.equal(r.checkpoint, null);
    }
    assert.deepEqual(await mirror(src), []);
    assert.equal(await events(ctx), 0);
    assert.equal(await readCheckpoint(ctx.db, 'main'), null);
    assert.equal(await staged(ctx, 'open'), 2);
    // The reader reconnected and read the open transaction again: the same slices are not staged again.
    assert.deepEqual((await commitBatch(ctx, g.open[1])).staged, { parts: 1, bytes: 0 });
    const closed = await commitBatch(ctx, g.closing);
    assert.equal(closed.eventsInserted, g.all.length);
    assert.deepEqual(await mirror(src), [[1, 'c'], [2, 'later'], [3, 'b']]);
    assert.deepEqual((await readCheckpoint(ctx.db, 'main'))?.position, endAt(6));
    assert.equal(await staged(ctx, 'open'), 0);
    assert.equal(await staged(ctx, 'pending'), 0);
  });

  it('a start deletes the open slices of a group whose commit was never staged, and only this pipeline\'s', async () => {
    const { ctx, src } = fresh();
    const g = group(src);
    for (const b of g.open) await commitBatch(ctx, b);
    await commitBatch({ client, db: ctx.db, caps, pipeline: 'other' }, g.open[0]);
    assert.deepEqual(await recoverPending(ctx), []);
    assert.equal(await ctx.db.collection(COLLECTIONS.staging).countDocuments({ status: 'open', pipeline: 'main' }), 0);
    assert.equal(await ctx.db.collection(COLLECTIONS.staging).countDocuments({ status: 'open', pipeline: 'other' }), 1);
    assert.deepEqual(await mirror(src), []);
    assert.equal(await readCheckpoint(ctx.db, 'main'), null);
  });

  it('a crash after the group committed but before its slices were applied: recovery applies them and keeps the checkpoint; the re-read finishes it exactly', async () => {
    const { ctx, src } = fresh();
    const g = group(src);
    for (const b of g.open) await commitBatch(ctx, b);
    await faulted('after-slice-apply', () => commitBatch(ctx, g.closing));
    // The first slice was applied, the second is pending, the closing batch was not staged.
    assert.deepEqual(await mirror(src), [[1, 'a'], [2, 'a']]);
    const recovered = await recoverPending(ctx);
    assert.equal(recovered.length, 1);
    assert.deepEqual(await mirror(src), [[1, 'b'], [2, 'a'], [3, 'b']]);
    assert.equal(await readCheckpoint(ctx.db, 'main'), null, 'the checkpoint waits for the closing batch');
    // The binlog is read again from before the group: the same slices, the same closing batch.
    for (const b of g.open) await commitBatch(ctx, b);
    await commitBatch(ctx, g.closing);
    assert.deepEqual(await mirror(src), [[1, 'c'], [2, 'later'], [3, 'b']]);
    assert.equal(await events(ctx), g.all.length);
    assert.deepEqual((await readCheckpoint(ctx.db, 'main'))?.position, endAt(6));
  });

  it('a crash after the closing batch was staged: recovery applies the slices, then it, then checkpoints', async () => {
    const { ctx, src } = fresh();
    const g = group(src);
    for (const b of g.open) await commitBatch(ctx, b);
    // Between the group's commit and its first slice applied, then again after the closing batch is staged.
    await faulted('after-group-commit', () => commitBatch(ctx, g.closing));
    assert.equal(await staged(ctx, 'pending'), 2);
    assert.deepEqual(await mirror(src), []);
    await faulted('after-stage', () => commitBatch(ctx, g.closing));
    const recovered = await recoverPending(ctx);
    assert.equal(recovered.length, 1, 'only the closing batch was left: its slices were applied before it was staged');
    assert.deepEqual(await mirror(src), [[1, 'c'], [2, 'later'], [3, 'b']]);
    assert.equal(await events(ctx), g.all.length);
    assert.deepEqual((await readCheckpoint(ctx.db, 'main'))?.position, endAt(6));
    assert.equal(await staged(ctx, 'pending'), 0);
  });
});
