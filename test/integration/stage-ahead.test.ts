import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MongoClient } from 'mongodb';
import { StageAhead, type Staged } from '../../src/actors/stage-ahead.js';
import type { Capabilities } from '../../src/mongo/capabilities.js';
import { finishBatch, recoverPending, writeBatch, type CommitContext } from '../../src/mongo/commit.js';
import { COLLECTIONS, ensureIndexes } from '../../src/mongo/layout.js';
import { readCheckpoint } from '../../src/mongo/offsets.js';
import { scopeBatch } from '../../src/mongo/scope.js';
import { Staging } from '../../src/mongo/staging.js';
import type { Batch } from '../../src/pipeline/types.js';
import { batch, change } from '../support/batches.js';
import type { Stack } from '../support/stack.js';
import { closeStack, connectedStack } from '../support/target.js';

/**
 * Staging batch n+1 while batch n is applied (StageAhead, wired as committer-io wires it) keeps
 * staging order = hand-on order = apply order, so a crash with several batches staged ahead
 * re-applies them in that order, and a failed or retried staging never reorders them.
 */
describe('staging ahead of the apply, against the MongoDB-wire server', () => {
  let stack: Stack;
  let client: MongoClient;
  let caps: Capabilities;
  let serial = 0;

  before(async () => {
    ({ stack, client, caps } = await connectedStack());
  });
  after(() => closeStack({ stack, client }));

  /** A fresh sdl and source database, a StageAhead over real staging, and a way to fail one staging. */
  async function fresh() {
    serial++;
    const src = `src${serial}`;
    const db = client.db(`sdl_sa${serial}`);
    await ensureIndexes(db);
    const staging = new Staging(db, 'main', { ttl: false });
    const ctx: CommitContext = { client, db, caps, pipeline: 'main', staging };
    const stagings: string[] = [];
    const failing = new Set<string>();
    const ahead = new StageAhead(async (b): Promise<Staged> => {
      if (failing.delete(b.id)) throw new Error(`staging ${b.id} failed (injected)`);
      stagings.push(b.id);
      return staging.stageBatch(scopeBatch(b, ctx.pipeline));
    });
    /** What the committer does per batch: stage unless staged ahead, apply, checkpoint, release. */
    const commit = async (b: Batch): Promise<void> => {
      const staged = await ahead.stagedOrStage(b);
      const written = await writeBatch(ctx, b, false);
      await finishBatch(ctx, b, { ...written, staged });
      ahead.committed(b.id);
    };
    /** Pending staged batch ids in staging order (the order recovery re-applies them in). */
    const pendingOrder = async (): Promise<string[]> =>
      (await db.collection<{ batch: string; part: number; order: number; status: string }>(COLLECTIONS.staging).find({ status: 'pending', part: 0 }).sort({ order: 1 }).toArray()).map((d) => d.batch.replace('main/', ''));
    return { src, ctx, staging, ahead, stagings, failing, commit, pendingOrder };
  }

  const row = (src: string, n: number, key: number, name: string) => change({ op: n === 1 ? 'insert' : 'update', db: src, key, after: { id: key, name }, ...(n === 1 ? {} : { before: { id: key } }), n });

  it('a crash with batches staged ahead re-applies them in hand-on order, and the checkpoint ends at the last', async () => {
    const { src, ctx, staging, ahead, pendingOrder } = await fresh();
    const b1 = batch([row(src, 1, 1, 'first')]);
    const b2 = batch([row(src, 2, 1, 'second')]);
    const b3 = batch([row(src, 3, 1, 'third')]);
    // The batcher hands on b1, b2 and b3 while the committer has applied none of them yet.
    for (const b of [b1, b2, b3]) assert.equal(await ahead.ahead(b), true);
    assert.deepEqual(await pendingOrder(), [b1.id, b2.id, b3.id]);
    // kill -9 here (or the committer restarts in-process): the next start re-applies all three, in order.
    ahead.reset();
    const recovered = await recoverPending(ctx);
    assert.deepEqual(recovered.map((r) => r.batchId), [b1, b2, b3].map((b) => `main/${b.id}`));
    assert.equal((await client.db(src).collection('t').findOne({ _id: 1 } as never))?.['name'], 'third');
    assert.deepEqual((await readCheckpoint(ctx.db, 'main'))?.position, b3.end);
    assert.deepEqual(await staging.listPending(), []);
    // The same batches read again from the binlog after an in-process restart are staged again, not taken as staged.
    assert.equal(ahead.isStaged(b1.id), false);
    assert.equal(await ahead.ahead(b1), true);
    assert.deepEqual(await pendingOrder(), [b1.id]);
  });

  it('after a failed ahead-staging the committer stages the rest in turn; a staged batch is never staged again', async () => {
    const { src, ctx, ahead, stagings, failing, commit, pendingOrder } = await fresh();
    const [b1, b2, b3, b4] = [1, 2, 3, 4].map((n) => batch([row(src, n, 1, `v${n}`)])) as [Batch, Batch, Batch, Batch];
    assert.equal(await ahead.ahead(b1), true);
    failing.add(b2.id);
    // b2 fails (MongoDB away, a stale lease): b2 and b3 are left to the committer, in order.
    assert.equal(await ahead.ahead(b2), false);
    assert.equal(await ahead.ahead(b3), false);
    assert.deepEqual(await pendingOrder(), [b1.id]);
    // A write of b1 that fails after staging is retried without staging b1 again.
    process.env['SDL_FAULT'] = 'after-stage:throw';
    try {
      await assert.rejects(commit(b1));
    } finally {
      delete process.env['SDL_FAULT'];
    }
    await commit(b1);
    assert.deepEqual(stagings, [b1.id]);
    // The committer stages b2 itself; with b2 staged, b4 may be staged ahead again, but b3 only by the committer.
    await commit(b2);
    assert.equal(await ahead.ahead(b4), false, 'b3 (handed on before b4) is not staged yet');
    await ahead.stagedOrStage(b3);
    assert.deepEqual(stagings, [b1.id, b2.id, b3.id]);
    await commit(b3);
    await commit(b4);
    assert.deepEqual(stagings, [b1.id, b2.id, b3.id, b4.id]);
    assert.deepEqual(await pendingOrder(), []);
    assert.equal((await client.db(src).collection('t').findOne({ _id: 1 } as never))?.['name'], 'v4');
    assert.deepEqual((await readCheckpoint(ctx.db, 'main'))?.position, b4.end);
  });

  it('once the batch before it is committed, a batch is staged ahead again', async () => {
    const { src, ahead, stagings, commit, pendingOrder } = await fresh();
    const [b1, b2, b3] = [1, 2, 3].map((n) => batch([row(src, n, 1, `v${n}`)])) as [Batch, Batch, Batch];
    assert.equal(await ahead.ahead(b1), true);
    await commit(b1);
    // b1 committed: b2 is first in line and is staged ahead; b3 follows it.
    assert.equal(await ahead.ahead(b2), true);
    assert.equal(await ahead.ahead(b3), true);
    assert.deepEqual(await pendingOrder(), [b2.id, b3.id]);
    await commit(b2);
    await commit(b3);
    assert.deepEqual(stagings, [b1.id, b2.id, b3.id]);
  });
});
