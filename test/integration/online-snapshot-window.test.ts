import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Document, MongoClient } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import { Decoder } from '../../src/actors/decoder-pool.js';
import { FULL_CAPABILITIES } from '../../src/decode/wire.js';
import { createLogger } from '../../src/log.js';
import type { Capabilities } from '../../src/mongo/capabilities.js';
import { commitBatch, type CommitContext } from '../../src/mongo/commit.js';
import { MirrorLock } from '../../src/mongo/mirror-lock.js';
import { readTableSnapshot, requestTableSnapshot } from '../../src/mongo/table-snapshots.js';
import { snapshotSeq } from '../../src/pipeline/sequence.js';
import type { DecodedChange } from '../../src/pipeline/types.js';
import { OnlineSnapshots } from '../../src/snapshot/online-snapshot.js';
import { TouchedKeys } from '../../src/snapshot/touched-keys.js';
import { batch } from '../support/batches.js';
import type { Stack } from '../support/stack.js';
import { closeStack, connectedStack } from '../support/target.js';

/**
 * The race the online snapshot's window exists for, made to happen: a chunk is read under its
 * view at P, then, before it is written, the stream deletes a row of it and updates another
 * (committed after P, applied to the mirror). Written as read, the chunk would bring the deleted
 * row back (nothing is stored to guard against). With the window, both keys are left to the
 * stream; a damaged document and an extra one are still repaired.
 */
describe('online snapshot: changes applied between a chunk\'s view and its write', () => {
  let stack: Stack;
  let client: MongoClient;
  let caps: Capabilities;
  let conn: Connection;
  let decoder: Decoder;

  before(async () => {
    ({ stack, client, caps } = await connectedStack());
    conn = await stack.mariadb.connect();
    decoder = new Decoder({ workers: 0, caps: FULL_CAPABILITIES });
  });
  after(async () => {
    await decoder?.close();
    await conn?.end();
    await closeStack({ stack, client });
  });

  it('a row deleted and a row updated by the stream after the view stay as the stream left them', async () => {
    await conn.query("CREATE DATABASE win; CREATE TABLE win.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO win.t SELECT seq, 'old' FROM win.seq_1_to_10");
    const sdlDb = client.db('sdl_win');
    const ctx: CommitContext = { client, db: sdlDb, caps, pipeline: 'win', stagingEnabled: false, mirrorStrategy: caps.ferretdb !== undefined ? 'replace-set' : 'guarded-upsert' };
    const mirror = client.db('win').collection<Document>('t');
    // Damage from before the copy: a wrong value and a document with no row.
    await mirror.insertMany([{ _id: 7, id: 7, v: 'damaged', _sdl: { pos: 'e000000:' } }, { _id: 99, id: 99, v: 'extra', _sdl: { pos: 'e000000:' } }] as Document[]);

    const lock = new MirrorLock();
    const touched = new TouchedKeys();
    let chunkRead: () => void = () => undefined;
    const read = new Promise<void>((r) => (chunkRead = r));
    const stop = new AbortController();
    const runner = new OnlineSnapshots({
      mysqlUrl: stack.mariadb.url,
      db: () => sdlDb,
      pipeline: 'win',
      commit: () => ctx,
      // Called between the chunk's read and its write: the moment to let the stream run.
      decoder: () => ({ decode: async (b) => { chunkRead(); return decoder.decode(b); } }),
      lock,
      touched,
      ready: () => true,
      chunkRows: 100,
      chunkBytes: 8 * 1024 * 1024,
      log: createLogger('warn'),
      signal: stop.signal,
      pollMs: 50,
    });
    // The committer is busy with a batch: the chunk waits for the lock.
    let release: () => void = () => undefined;
    const busy = lock.exclusive(() => new Promise<void>((r) => (release = r)));
    await requestTableSnapshot(sdlDb, 'win', { db: 'win', table: 't' }, 'test');
    const running = runner.run();
    try {
      await read;
      await conn.query('DELETE FROM win.t WHERE id = 5');
      await conn.query("UPDATE win.t SET v = 'new' WHERE id = 6");
      const [status] = await conn.query('SHOW MASTER STATUS');
      const at = (status as { File: string; Position: number }[])[0];
      assert.ok(at !== undefined);
      const seq = snapshotSeq({ file: at.File, pos: Number(at.Position) });
      // What the committer writes for those two transactions (seqs after the chunk's view), noted as it does.
      const stream: DecodedChange[] = [
        { id: 'win/del5', seq: `${seq}00000000`, op: 'delete', db: 'win', table: 't', key: 5, before: { id: 5, v: 'old' }, after: null, h: null, gtid: undefined, ts: Date.now() },
        { id: 'win/upd6', seq: `${seq}00000001`, op: 'update', db: 'win', table: 't', key: 6, before: { id: 6, v: 'old' }, after: { id: 6, v: 'new' }, h: null, gtid: undefined, ts: Date.now() },
      ];
      touched.note(stream);
      await commitBatch(ctx, batch(stream, { end: null }));
      assert.equal(await mirror.countDocuments({ _id: 5 } as Document), 0);
      release();
      await busy;
      const deadline = Date.now() + 60_000;
      let done = await readTableSnapshot(sdlDb, 'win', { db: 'win', table: 't' });
      while (done?.done !== true) {
        assert.ok(Date.now() < deadline, 'the copy ends');
        await new Promise((r) => setTimeout(r, 100));
        done = await readTableSnapshot(sdlDb, 'win', { db: 'win', table: 't' });
      }
      assert.equal(done.rows, 10, 'the chunk read all ten rows at its view');
      assert.equal(done.skipped, 2, 'keys 5 and 6 were left to the stream');
      assert.equal(await mirror.countDocuments({ _id: 5 } as Document), 0, 'the deleted row did not come back');
      assert.equal((await mirror.findOne({ _id: 6 } as Document))?.['v'], 'new');
      assert.equal((await mirror.findOne({ _id: 7 } as Document))?.['v'], 'old', 'the damaged document is repaired');
      assert.equal(await mirror.countDocuments({ _id: 99 } as Document), 0, 'the document with no row is deleted');
      assert.equal(await mirror.countDocuments({}), 9);
      assert.equal(((await mirror.findOne({ _id: 1 } as Document))?.['_sdl'] as Document | undefined)?.['op'], 'r');
    } finally {
      release();
      stop.abort();
      await running;
    }
  });
});
