import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Binary, BSON, Decimal128, Double, Int32, Long, type MongoClient, type Document } from 'mongodb';
import { SdlError } from '../../src/errors.js';
import { FaultInjected } from '../../src/faults.js';
import type { Capabilities } from '../../src/mongo/capabilities.js';
import { classifyMongoError, commitBatch, recoverPending, type CommitContext } from '../../src/mongo/commit.js';
import { readDeadLetter, replayDeadLetters, writeDeadLetters } from '../../src/mongo/dead-letters.js';
import { COLLECTIONS, ensureIndexes } from '../../src/mongo/layout.js';
import { readCheckpoint, writeCheckpoint } from '../../src/mongo/offsets.js';
import { WriteFence } from '../../src/mongo/lease.js';
import { Staging } from '../../src/mongo/staging.js';
import { batch, change, endAt } from '../support/batches.js';
import type { Stack } from '../support/stack.js';
import { closeStack, connectedStack } from '../support/target.js';

describe('committer against the MongoDB-wire server', () => {
  let stack: Stack;
  let client: MongoClient;
  let caps: Capabilities;
  let serial = 0;

  /** A fresh sdl database and source database per test, so tests do not see each other's rows. */
  function fresh(): { ctx: CommitContext; src: string } {
    serial++;
    const src = `src${serial}`;
    const ctx: CommitContext = { client, db: client.db(`sdl_t${serial}`), caps, pipeline: 'main' };
    return { ctx, src };
  }

  type Doc = Record<string, unknown>;
  const mirror = (db: string, table = 't') => client.db(db).collection<Doc>(table);
  const events = (ctx: CommitContext) => ctx.db.collection<Doc>(COLLECTIONS.rowChanges);
  const sorted = async (db: string, table = 't') => mirror(db, table).find({}, { promoteLongs: false }).sort({ _id: 1 }).toArray();

  before(async () => {
    ({ stack, client, caps } = await connectedStack());
  });
  after(() => closeStack({ stack, client }));

  it('creates its indexes idempotently, even where TTL is refused', async () => {
    const { ctx } = fresh();
    const first = await ensureIndexes(ctx.db);
    const second = await ensureIndexes(ctx.db);
    assert.deepEqual(first, second);
    if (caps.ferretdb !== undefined) assert.equal(first.stagingTtl, false);
  });

  it('replays a committed batch without duplicating events or changing mirrors', async () => {
    const { ctx, src } = fresh();
    const b = batch([
      change({ op: 'insert', db: src, key: 1, after: { id: 1, name: 'a' }, n: 1 }),
      change({ op: 'insert', db: src, key: 2, after: { id: 2, name: 'b' }, n: 2 }),
      change({ op: 'update', db: src, key: 1, after: { id: 1, name: 'a2' }, before: { id: 1, name: 'a' }, n: 3 }),
    ]);
    const first = await commitBatch(ctx, b);
    assert.equal(first.eventsInserted, 3);
    assert.equal(first.duplicatesIgnored, 0);
    assert.equal(first.mirrorsUpserted, 2);
    assert.deepEqual(first.checkpoint, { written: true });
    const mirrorsBefore = await sorted(src);
    const again = await commitBatch(ctx, b);
    assert.equal(again.eventsInserted, 0);
    assert.equal(again.duplicatesIgnored, 3);
    assert.equal(again.deadLetters, 0);
    assert.equal(again.mirrorsReplaced, 2);
    assert.equal(await events(ctx).countDocuments(), 3);
    assert.deepEqual(await sorted(src), mirrorsBefore);
    assert.deepEqual(mirrorsBefore.map((d) => [d['_id'], d['name'], (d['_sdl'] as Doc)['pos']]), [
      [1, 'a2', b.changes[2]?.seq],
      [2, 'b', b.changes[1]?.seq],
    ]);
    assert.deepEqual(await new Staging(ctx.db, ctx.pipeline).listPending(), []);
  });

  it('coalesces insert, update and delete of one key inside a batch', async () => {
    const { ctx, src } = fresh();
    const res = await commitBatch(ctx, batch([
      change({ op: 'insert', db: src, key: 1, after: { id: 1, v: 1 }, n: 1 }),
      change({ op: 'update', db: src, key: 1, after: { id: 1, v: 2 }, n: 2 }),
      change({ op: 'delete', db: src, key: 1, before: { id: 1, v: 2 }, n: 3 }),
      change({ op: 'insert', db: src, key: 2, after: { id: 2, v: 1 }, n: 4 }),
      change({ op: 'update', db: src, key: 2, after: { id: 2, v: 9 }, n: 5 }),
    ]));
    assert.equal(res.eventsInserted, 5);
    assert.equal(res.mirrorsUpserted, 1);
    assert.deepEqual((await sorted(src)).map((d) => [d['_id'], d['v']]), [[2, 9]]);
    assert.deepEqual((await events(ctx).find({ key: 1 }).sort({ seq: 1 }).toArray()).map((e) => e['op']), ['insert', 'update', 'delete']);
  });

  it('moves a mirror document when an update changes its key, and keys composite documents by object', async () => {
    const { ctx, src } = fresh();
    await commitBatch(ctx, batch([change({ op: 'insert', db: src, key: 1, after: { id: 1, v: 'x' }, n: 1 })]));
    await commitBatch(ctx, batch([change({ op: 'update', db: src, key: 5, oldKey: 1, after: { id: 5, v: 'x' }, before: { id: 1, v: 'x' }, n: 2 })]));
    assert.deepEqual((await sorted(src)).map((d) => d['_id']), [5]);

    const ck = { a: 1, b: 'x' };
    await commitBatch(ctx, batch([
      change({ op: 'insert', db: src, table: 'c', key: ck, after: { a: 1, b: 'x', v: 1 }, n: 3 }),
      change({ op: 'insert', db: src, table: 'c', key: { a: 2, b: 'x' }, after: { a: 2, b: 'x', v: 1 }, n: 4 }),
    ]));
    await commitBatch(ctx, batch([change({ op: 'update', db: src, table: 'c', key: ck, after: { a: 1, b: 'x', v: 2 }, n: 5 })]));
    const doc = await mirror(src, 'c').findOne({ _id: ck } as Document);
    assert.deepEqual(doc?.['_id'], ck);
    assert.equal(doc?.['v'], 2);
    assert.equal(await mirror(src, 'c').countDocuments(), 2);
  });

  it('never lets an older image or an older delete overwrite a newer document', async () => {
    const { ctx, src } = fresh();
    await commitBatch(ctx, batch([change({ op: 'update', db: src, key: 1, after: { id: 1, v: 'new' }, n: 10 })]));
    const older = await commitBatch(ctx, batch([change({ op: 'update', db: src, key: 1, after: { id: 1, v: 'old' }, n: 5 })]));
    assert.equal(older.skippedOlder, 1);
    assert.equal(older.deadLetters, 0);
    const olderDelete = await commitBatch(ctx, batch([change({ op: 'delete', db: src, key: 1, n: 7 })]));
    assert.equal(olderDelete.mirrorsDeleted, 0);
    assert.deepEqual((await sorted(src)).map((d) => d['v']), ['new']);
    // An older image first in a batch must not hold back the newer writes after it.
    const mixed = await commitBatch(ctx, batch([
      change({ op: 'update', db: src, key: 1, after: { id: 1, v: 'old again' }, n: 6 }),
      ...[2, 3, 4].map((k) => change({ op: 'insert', db: src, key: k, after: { id: k, v: 'fresh' }, n: 10 + k, row: k })),
    ]));
    assert.equal(mixed.skippedOlder, 1);
    assert.equal(mixed.deadLetters, 0);
    assert.deepEqual((await sorted(src)).map((d) => d['v']), ['new', 'fresh', 'fresh', 'fresh']);
    await mirror(src).deleteMany({ _id: { $in: [2, 3, 4] } } as Document);
    const newerDelete = await commitBatch(ctx, batch([change({ op: 'delete', db: src, key: 1, n: 11 })]));
    assert.equal(newerDelete.mirrorsDeleted, 1);
    assert.equal(await mirror(src).countDocuments(), 0);
  });

  it('writes changes of a keyless table to the event log only', async () => {
    const { ctx, src } = fresh();
    const res = await commitBatch(ctx, batch([change({ op: 'insert', db: src, table: 'nokey', key: null, after: { x: 1 }, n: 1 })]));
    assert.equal(res.eventsInserted, 1);
    assert.equal(res.mirrorsUpserted, 0);
    assert.equal(await mirror(src, 'nokey').countDocuments(), 0);
    assert.equal(await events(ctx).countDocuments({ table: 'nokey', key: null }), 1);
  });

  it('stages batches with their BSON types and recovers them after a crash before apply', async () => {
    const { ctx, src } = fresh();
    const staging = new Staging(ctx.db, ctx.pipeline);
    const row = {
      id: new Int32(1),
      big: Long.fromString('9223372036854775807'),
      dec: Decimal128.fromString('12345678901234567890.123456789'),
      dbl: new Double(3),
      bin: new Binary(Buffer.from([0, 1, 2, 255])),
      when: new Date('2024-01-02T03:04:05.678Z'),
      'odd.key': 'dots and $ in names',
      nested: [[1, 2], [3]],
    };
    const b = batch([change({ op: 'insert', db: src, key: 1, after: row, raw: { when: '2024-01-02 03:04:05.678901' }, n: 1 })]);
    await staging.stageBatch(b);
    const [back, ...none] = await staging.listPending();
    assert.equal(none.length, 0);
    assert.ok(back);
    const after = back.changes[0]?.after ?? {};
    assert.ok(after['big'] instanceof Long && after['big'].toString() === '9223372036854775807');
    assert.ok(after['dec'] instanceof Decimal128 && after['dec'].toString() === '12345678901234567890.123456789');
    assert.ok(after['dbl'] instanceof Double && after['dbl'].value === 3);
    assert.ok(after['id'] instanceof Int32);
    assert.ok(after['bin'] instanceof Binary);
    assert.ok(after['when'] instanceof Date);
    // Byte-identical BSON: every type and value survived.
    assert.deepEqual(BSON.serialize(after), BSON.serialize(row));
    assert.deepEqual({ ...back, changes: [] }, { ...b, changes: [] });
    assert.equal(typeof back.changes[0]?.ts, 'number');
    assert.deepEqual(back.changes[0]?.raw, { when: '2024-01-02 03:04:05.678901' });

    // A simulated crash between staging and apply, with a row every server stores.
    const plain = batch([
      change({ op: 'insert', db: src, key: 2, after: { id: 2, big: Long.fromNumber(5) }, n: 2 }),
      change({ op: 'insert', db: src, key: 3, after: { id: 3 }, n: 3 }),
    ]);
    await staging.markApplied(b.id);
    process.env['SDL_FAULT'] = 'after-stage:throw';
    try {
      await assert.rejects(commitBatch({ ...ctx, staging }, plain), FaultInjected);
    } finally {
      delete process.env['SDL_FAULT'];
    }
    assert.equal(await mirror(src).countDocuments(), 0);
    assert.equal(await readCheckpoint(ctx.db, 'main'), null);
    const recovered = await recoverPending({ ...ctx, staging });
    assert.equal(recovered.length, 1);
    assert.equal(recovered[0]?.eventsInserted, 2);
    const big = await mirror(src).findOne({ _id: 2 } as Document, { promoteLongs: false });
    assert.ok(big?.['big'] instanceof Long);
    assert.deepEqual((await readCheckpoint(ctx.db, 'main'))?.position, plain.end);
    assert.deepEqual(await staging.listPending(), []);
  });

  it('recovers after a crash between apply and checkpoint, exactly once in effect', async () => {
    const { ctx, src } = fresh();
    const b = batch([change({ op: 'insert', db: src, key: 1, after: { id: 1 }, n: 1 }), change({ op: 'delete', db: src, key: 1, n: 2 })]);
    process.env['SDL_FAULT'] = 'after-apply:throw';
    try {
      await assert.rejects(commitBatch(ctx, b), FaultInjected);
    } finally {
      delete process.env['SDL_FAULT'];
    }
    const [r] = await recoverPending(ctx);
    assert.equal(r?.duplicatesIgnored, caps.transactions ? 0 : 2);
    assert.equal(await events(ctx).countDocuments(), 2);
    assert.equal(await mirror(src).countDocuments(), 0);
    assert.deepEqual((await readCheckpoint(ctx.db, 'main'))?.position, b.end);
  });

  it('splits a staged batch over 16 MB across documents and recovers it', async () => {
    const { ctx, src } = fresh();
    const blob = (i: number) => new Binary(Buffer.alloc(4 * 1024 * 1024, i));
    const b = batch(Array.from({ length: 6 }, (_, i) => change({ op: 'insert', db: src, key: i, after: { id: i, blob: blob(i) }, n: i + 1 })));
    const staging = new Staging(ctx.db, ctx.pipeline);
    const staged = await staging.stageBatch(b);
    assert.ok(staged.parts >= 2, `parts ${staged.parts}`);
    assert.ok(staged.bytes > 16 * 1024 * 1024);
    const [back] = await staging.listPending();
    assert.equal(back?.changes.length, 6);
    const r = await recoverPending({ ...ctx, staging });
    assert.equal(r[0]?.eventsInserted, 6);
    const doc = await mirror(src).findOne({ _id: 5 } as Document);
    assert.deepEqual(Buffer.from((doc?.['blob'] as Binary).buffer), Buffer.alloc(4 * 1024 * 1024, 5));
  });

  it('sends a row the server rejects to dead_letters and applies the rest, once per replay', async () => {
    const { ctx, src } = fresh();
    const changes = Array.from({ length: 120 }, (_, i) => change({ op: 'insert', db: src, key: i, after: { id: i, v: `row ${i}` }, n: i + 1 }));
    // Over 16 MB as a document: no server stores it.
    changes[60] = change({ op: 'insert', db: src, key: 60, after: { id: 150, huge: new Binary(Buffer.alloc(17 * 1024 * 1024, 1)) }, n: 61 });
    if (caps.ferretdb !== undefined) {
      // FerretDB 1.x refuses '.' in keys and nested arrays (MongoDB stores both).
      changes[80] = change({ op: 'insert', db: src, key: 80, after: { id: 80, 'a.b': 1 }, n: 81 });
      changes[110] = change({ op: 'insert', db: src, key: 110, after: { id: 110, n: [[1]] }, n: 111 });
    }
    const bad = caps.ferretdb !== undefined ? 3 : 1;
    const b = batch(changes);
    const first = await commitBatch(ctx, b);
    assert.equal(first.deadLetters, bad * 2, 'event and mirror of each bad row');
    assert.equal(first.eventsInserted, 120 - bad);
    // Upserted vs replaced depends on the server (FerretDB writes part of a failed command unreported).
    assert.equal(first.mirrorsUpserted + first.mirrorsReplaced, 120 - bad);
    assert.equal(await mirror(src).countDocuments(), 120 - bad);
    assert.deepEqual((await readCheckpoint(ctx.db, 'main'))?.position, b.end);

    const dl = ctx.db.collection<Doc>(COLLECTIONS.deadLetters);
    const letter = await dl.findOne({ _id: `${ctx.pipeline}/${changes[60]?.id}|mirror:${src}.t` } as Document);
    assert.equal((letter?.['reason'] as Doc | undefined)?.['code'], 10334);
    assert.equal(letter?.['replayed'], false);
    assert.equal(letter?.['parts'], 2);
    const read = await readDeadLetter(ctx.db, `${ctx.pipeline}/${changes[60]?.id}|mirror:${src}.t`);
    assert.equal((read.change.after?.['huge'] as Binary).length(), 17 * 1024 * 1024);
    if (caps.ferretdb !== undefined) {
      const dotted = await dl.findOne({ _id: `${ctx.pipeline}/${changes[80]?.id}|event` } as Document);
      assert.equal((dotted?.['reason'] as Doc | undefined)?.['code'], 2);
      assert.match(String((dotted?.['reason'] as Doc | undefined)?.['message']), /must not contain/);
    }

    const again = await commitBatch(ctx, b);
    assert.equal(again.duplicatesIgnored, 120 - bad);
    assert.equal(await dl.countDocuments({ partOf: { $exists: false } }), bad * 2);

    // Still refused: stays unreplayed, with the error noted.
    const stillBad = await replayDeadLetters(client, ctx.db, { 'change.id': `${ctx.pipeline}/${changes[60]?.id}` });
    assert.deepEqual(stillBad, { replayed: 0, failed: 2 });
    // A letter whose cause is gone replays and is marked.
    const fixable = change({ op: 'insert', db: src, key: 999, after: { id: 999 }, n: 999 });
    await writeDeadLetters(ctx.db, [{ change: fixable, target: { kind: 'mirror', db: src, collection: 't' }, reason: { code: 1, message: 'simulated' } }]);
    assert.deepEqual(await replayDeadLetters(client, ctx.db, { 'change.id': fixable.id }), { replayed: 1, failed: 0 });
    assert.equal((await mirror(src).findOne({ _id: 999 } as Document))?.['id'], 999);
  });

  it('applies TRUNCATE, DROP and RENAME to mirrors and records them in schema_history', async () => {
    const { ctx, src } = fresh();
    const rows = ['t1', 't2', 't3', 't4'].flatMap((table, i) => [
      change({ op: 'insert', db: src, table, key: 1, after: { id: 1 }, n: i * 2 + 1 }),
      change({ op: 'insert', db: src, table, key: 2, after: { id: 2 }, n: i * 2 + 2 }),
    ]);
    await commitBatch(ctx, batch(rows));
    const ddl = [
      { db: src, statement: 'TRUNCATE TABLE `t1`' },
      { db: src, statement: `DROP TABLE IF EXISTS \`${src}\`.\`t2\`, t3 /* generated by server */` },
      { db: src, statement: 'RENAME TABLE t4 TO t5' },
      { db: src, statement: 'ALTER TABLE t1 ADD COLUMN x INT' },
    ];
    const b = batch([], { id: 'ddl@20', end: endAt(20), ddl });
    const res = await commitBatch(ctx, b);
    assert.deepEqual(res.ddl, { recorded: 4, truncated: 1, dropped: 2, renamed: 1, altered: 0 });
    const names = (await client.db(src).listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
    assert.deepEqual(names, ['t1', 't5']);
    assert.equal(await mirror(src, 't1').countDocuments(), 0);
    assert.equal(await mirror(src, 't5').countDocuments(), 2);
    const again = await commitBatch(ctx, b);
    assert.deepEqual(again.ddl, { recorded: 4, truncated: 1, dropped: 0, renamed: 0, altered: 0 });
    const history = await ctx.db.collection<Doc>(COLLECTIONS.schemaHistory).find().sort({ _id: 1 }).toArray();
    assert.equal(history.length, 4);
    // A plain nullable ADD COLUMN is applied too (every mirror document gets the field as null; t1 is empty here).
    assert.deepEqual(history.map((h) => h['action']), ['truncate', 'drop', 'rename', 'alter']);
    assert.equal(await mirror(src, 't5').countDocuments(), 2);
  });

  it('DROP DATABASE drops the mirrors of that database, and stops rather than drop a MongoDB database another source database shares', async () => {
    const { ctx, src } = fresh();
    await commitBatch(ctx, batch([change({ op: 'insert', db: src, table: 'a', key: 1, after: { id: 1 }, n: 1 }), change({ op: 'insert', db: src, table: 'b', key: 1, after: { id: 1 }, n: 2 })]));
    const drop = batch([], { id: 'ddl@30', end: endAt(30), ddl: [{ db: '', statement: `DROP DATABASE \`${src}\`` }] });
    assert.equal((await commitBatch(ctx, drop)).ddl.dropped, 2);
    assert.deepEqual(await client.db(src).listCollections().toArray(), []);
    const shared = { ...ctx, databaseMap: { [`${src}x`]: src, [`${src}y`]: src } };
    await commitBatch(shared, batch([change({ op: 'insert', db: `${src}y`, table: 'keep', key: 1, after: { id: 1 }, n: 3 })], { id: 'rows@40', end: endAt(40) }));
    const dropShared = batch([], { id: 'ddl@50', end: endAt(50), ddl: [{ db: '', statement: `DROP DATABASE \`${src}x\`` }] });
    await assert.rejects(commitBatch(shared, dropShared), (err: unknown) => err instanceof SdlError && err.code === 'UNSUPPORTED_EVENT' && err.errorClass === 'permanent');
    assert.equal(await mirror(src, 'keep').countDocuments(), 1);
  });

  it('fails transiently when the server is killed mid-commit, and a retry is exact', async (t) => {
    if (!stack.mongo.controllable) return t.skip('SDL_TEST_MONGO_URL server cannot be killed by the harness');
    const { ctx, src } = fresh();
    const n = 400;
    const b = batch(Array.from({ length: n }, (_, i) => change({ op: 'insert', db: src, key: i, after: { id: i, v: 'x'.repeat(100) }, n: i + 1 })));
    const pending = commitBatch(ctx, b);
    const outcome = pending.then(() => undefined, (err: unknown) => err);
    // Kill once the event log is written, while the mirror upserts are under way.
    for (let i = 0; i < 400 && (await events(ctx).countDocuments()) < n; i++) await new Promise((r) => setTimeout(r, 10));
    await stack.mongo.kill9();
    const err = await outcome;
    assert.ok(err instanceof Error, 'commit must fail when the server dies under it');
    assert.equal(classifyMongoError(err), 'transient', `${String(err)}`);
    await stack.mongo.start();
    const retry = await commitBatch(ctx, b);
    assert.equal(retry.eventsInserted + retry.duplicatesIgnored, n);
    assert.equal(await events(ctx).countDocuments(), n);
    assert.equal(await mirror(src).countDocuments(), n);
    assert.deepEqual((await readCheckpoint(ctx.db, 'main'))?.position, b.end);
    assert.deepEqual(await new Staging(ctx.db, ctx.pipeline).listPending(), []);
  });

  it('a stale lease stops every write before it is sent, mid-batch too, and the retry is exact', async () => {
    for (const mirrorStrategy of ['guarded-upsert', 'replace-set'] as const) {
      const { ctx, src } = fresh();
      const n = 60;
      const b = batch(Array.from({ length: n }, (_, i) => change({ op: 'insert', db: src, key: i, after: { id: i, v: `row ${i}` }, n: i + 1 })));
      const limits = { ops: 10, bytes: 1024 * 1024 };
      let allowed = 0;
      let calls = 0;
      const fence = (): Promise<void> => {
        calls++;
        return calls > allowed ? Promise.reject(new SdlError('LEASE_STALE', 'lease not renewed', 'transient')) : Promise.resolve();
      };
      // Stale from the start: nothing reaches the server, not even staging.
      await assert.rejects(commitBatch({ ...ctx, fence, limits, mirrorStrategy }, b), /lease not renewed/);
      assert.equal(await ctx.db.collection(COLLECTIONS.staging).countDocuments(), 0);
      assert.equal(await events(ctx).countDocuments(), 0);
      // Stale after staging and two event chunks: the later chunks and the mirrors are never sent.
      allowed = 3;
      calls = 0;
      await assert.rejects(commitBatch({ ...ctx, fence, limits, mirrorStrategy }, b), /lease not renewed/);
      assert.equal(await events(ctx).countDocuments(), 20, mirrorStrategy);
      assert.equal(await mirror(src).countDocuments(), 0, mirrorStrategy);
      // Renewed: the same batch again is exact.
      const done = await commitBatch({ ...ctx, limits, mirrorStrategy }, b);
      assert.equal(done.eventsInserted + done.duplicatesIgnored, n);
      assert.equal(await events(ctx).countDocuments(), n);
      assert.equal(await mirror(src).countDocuments(), n);
    }
  });

  it('WriteFence: writable until a third of the TTL before the lease could expire, counted from when the renewal was sent', () => {
    let now = 1_000_000;
    const fence = new WriteFence(3000, () => now);
    assert.equal(fence.writable, false, 'never renewed');
    fence.renewed(now);
    assert.equal(fence.writable, true);
    now += 1999;
    assert.equal(fence.writable, true);
    now += 1;
    assert.equal(fence.writable, false);
    assert.throws(() => fence.check(), (e: unknown) => e instanceof SdlError && e.code === 'LEASE_STALE' && e.errorClass === 'transient');
    // An older renewal answering late never shortens the window.
    fence.renewed(now - 500);
    fence.renewed(now - 2000);
    assert.equal(fence.writable, true);
  });

  it('WriteFence.ready: a late renewal is waited for, not failed; an absent one fails after the wait', async () => {
    const fence = new WriteFence(3000, Date.now, 400);
    const t0 = Date.now();
    await assert.rejects(fence.ready(), (e: unknown) => e instanceof SdlError && e.code === 'LEASE_STALE');
    assert.ok(Date.now() - t0 >= 350, 'waited for a renewal before giving up');
    const waiting = fence.ready();
    setTimeout(() => fence.renewed(Date.now()), 100);
    await waiting;
    assert.equal(fence.writable, true);
  });

  it('WriteFence.ready: while renewals fail (MongoDB unreachable) it fails at once, so the step backs off and says so', async () => {
    let now = 1_000_000;
    const fence = new WriteFence(3000, () => now, 60_000);
    fence.renewed(now);
    now += 2500;
    fence.renewalFailed();
    await assert.rejects(fence.ready(), (e: unknown) => e instanceof SdlError && e.code === 'LEASE_STALE');
    // A renewal that fails while a write waits ends the wait.
    fence.renewed(now - 500);
    now += 2500;
    const waiting = fence.ready();
    fence.renewalFailed();
    await assert.rejects(waiting, (e: unknown) => e instanceof SdlError && e.code === 'LEASE_STALE');
  });

  it('a batch whose lease renewal comes late mid-batch waits for it and completes, instead of failing and redoing its writes', async () => {
    for (const mirrorStrategy of ['guarded-upsert', 'replace-set'] as const) {
      const { ctx, src } = fresh();
      const n = 60;
      const b = batch(Array.from({ length: n }, (_, i) => change({ op: 'insert', db: src, key: i, after: { id: i, v: `row ${i}` }, n: i + 1 })));
      let now = 1_000_000;
      const lease = new WriteFence(3000, () => now, 5000);
      lease.renewed(now);
      let commands = 0;
      const fence = async (): Promise<void> => {
        // The window closes after the third write command; the renewal answers 200 ms later.
        if (++commands === 4) {
          now += 2500;
          setTimeout(() => lease.renewed(now), 200);
        }
        await lease.ready();
      };
      const done = await commitBatch({ ...ctx, fence, limits: { ops: 10, bytes: 1024 * 1024 }, mirrorStrategy }, b);
      assert.equal(done.eventsInserted, n, `${mirrorStrategy}: every event written once, none redone`);
      assert.equal(await mirror(src).countDocuments(), n);
    }
  });

  it('never moves the checkpoint backwards', async () => {
    const { ctx, src } = fresh();
    assert.deepEqual(await writeCheckpoint(ctx.db, 'p', { file: 'binlog.000002', pos: 500, gtid: '0-1-9' }), { written: true });
    const refused = await writeCheckpoint(ctx.db, 'p', { file: 'binlog.000001', pos: 900, gtid: '0-1-5' });
    assert.equal(refused.written, false);
    assert.equal(refused.stored?.file, 'binlog.000002');
    assert.deepEqual(await writeCheckpoint(ctx.db, 'p', { file: 'binlog.000002', pos: 500, gtid: '0-1-9' }), { written: true });
    assert.deepEqual((await readCheckpoint(ctx.db, 'p'))?.position, { file: 'binlog.000002', pos: 500, gtid: '0-1-9' });
    // A chunk of a large transaction (no end) leaves the checkpoint alone.
    const chunk = await commitBatch({ ...ctx, pipeline: 'p' }, batch([change({ op: 'insert', db: src, key: 1, after: {}, n: 1 })], { end: null }));
    assert.equal(chunk.checkpoint, null);
    const old = await commitBatch({ ...ctx, pipeline: 'p' }, batch([change({ op: 'insert', db: src, key: 2, after: {}, n: 2 })]));
    assert.equal(old.checkpoint?.written, false);
    assert.equal((await readCheckpoint(ctx.db, 'p'))?.file, 'binlog.000002');
  });
});
