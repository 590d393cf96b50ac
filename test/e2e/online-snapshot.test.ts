import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { MongoClient, type Document } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import { sleep, shopEventCounts, shopWorkload } from '../support/fault-run.js';
import { scrape } from '../support/metrics.js';
import { freePort } from '../support/ports.js';
import { sdlCommand } from '../support/sdl-cli.js';
import { SdlProcess, sdlEnv, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';
import { BackgroundWorkload, type Workload } from '../support/workload.js';
import { writeDeadLetters } from '../../src/mongo/dead-letters.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const PIPELINE = 'online';
const INCLUDE = 'shop,extra';
// Small chunks: many views, each racing the workload's writes to the same keys.
const CHUNK_ROWS = '25';

function sdlSnapshot(stack: Stack, tables: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'snapshot', '--tables', tables], { env: sdlEnv(stack, { SDL_PIPELINE: PIPELINE, SDL_INCLUDE: INCLUDE }), timeout: 300_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

interface Request {
  rows: number;
  upTo?: unknown;
  skipped: number;
  done: boolean;
  generation: number;
  reason: string;
}

async function request(client: MongoClient, table: string): Promise<Request | null> {
  return client.db('sdl').collection<Document>('snapshots').findOne({ _id: `${PIPELINE}/table/${table}` } as Document) as Promise<Request | null>;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, sdl: SdlProcess, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (!sdl.running) throw new Error(`sdl exited while waiting for ${what}:\n${sdl.logs().slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${sdl.logs().slice(-4000)}`);
    await sleep(100);
  }
}

/**
 * Online re-snapshot (src/snapshot/online-snapshot.ts) on real servers. Why it is exact under
 * concurrent writes: each chunk is read under a consistent view at an exact binlog position P
 * and written under the committer's mirror lock; keys that a change logged after P touched are
 * left to the stream (its image is newer and is applied), every other key gets P's image with
 * `_sdl.pos` = P, which the position guard lets every later change overwrite and no earlier one.
 * The workload below inserts, updates, moves keys and deletes while the chunks are copied, so
 * each of those cases meets a chunk; the end state is compared row by row with MySQL.
 */
describe('online re-snapshot of chosen tables while streaming goes on', () => {
  let stack: Stack;
  let client: MongoClient;
  let conn: Connection;
  let workload: Workload;
  let sdl: SdlProcess;
  let port: number;
  /** The workload's changes the initial snapshot copied (as `r` reads, not events). */
  let copied: { inserts: number; updates: number; deletes: number };
  const changesSince = (stats: { inserts: number; updates: number; deletes: number }): { insert: number; update: number; delete: number } =>
    ({ insert: stats.inserts - copied.inserts, update: stats.updates - copied.updates, delete: stats.deletes - copied.deletes });

  const startSdl = (name: string): SdlProcess => {
    const p = new SdlProcess(stack.scratch, stack, { pipeline: PIPELINE, include: INCLUDE, name, env: { SDL_SNAPSHOT_CHUNK_ROWS: CHUNK_ROWS, SDL_HTTP_ADDR: `127.0.0.1:${port}` } });
    p.start();
    return p;
  };

  before(async () => {
    stack = await startStack();
    client = new MongoClient(stack.mongo.url);
    port = await freePort();
    ({ conn, workload } = await shopWorkload(stack, 3));
    await conn.query('CREATE DATABASE extra');
    await conn.query('CREATE TABLE extra.items (id INT PRIMARY KEY, note VARCHAR(40)) CHARSET utf8mb4');
    await conn.query("INSERT INTO extra.items SELECT seq, CONCAT('item ', seq) FROM extra.seq_1_to_400");
    await workload.run(300);
    copied = { ...workload.stats };
    sdl = startSdl('sdl');
    await waitForCatchUp(stack, PIPELINE, 180_000, sdl);
  });
  after(async () => {
    await sdl?.stop();
    await conn?.end();
    await client?.close();
    await stack?.stop();
  });

  it('under a write workload: fixes a damaged mirror (missing, extra, changed), changes nothing that was right; progress in /metrics and the log', async (t) => {
    const customers = client.db('shop').collection<Document>('customers');
    const orders = client.db('shop').collection<Document>('orders');
    const [gone, changed] = await customers.find({}).sort({ _id: 1 }).limit(2).toArray();
    assert.ok(gone !== undefined && changed !== undefined);
    await customers.deleteOne({ _id: gone['_id'] });
    await customers.updateOne({ _id: changed['_id'] }, { $set: { name: 'tampered' } });
    await customers.insertOne({ ...changed, _id: 999_999_999 } as Document);
    const order = await orders.findOne({});
    assert.ok(order !== null);
    await orders.updateOne({ _id: order['_id'] }, { $set: { total: -1 } });

    const stats0 = { ...workload.stats };
    const background = new BackgroundWorkload(workload, 100);
    let stats;
    try {
      const r = await sdlSnapshot(stack, 'shop.customers,shop.orders');
      assert.equal(r.code, 0, r.out + r.err);
      assert.match(r.out, /shop\.customers: copied \(\d+ rows read/);
      assert.match(r.out, /shop\.orders: copied \(\d+ rows read/);
      const metrics = await scrape(`http://127.0.0.1:${port}`);
      assert.ok((metrics.get('sdl_snapshot_rows{table="shop.customers"}') ?? 0) > 0, 'snapshot rows in /metrics');
      assert.ok((metrics.get('sdl_snapshot_rows_estimated{table="shop.orders"}') ?? -1) >= 0, 'estimate in /metrics');
    } finally {
      stats = await background.stop();
    }
    assert.ok(stats.transactions - stats0.transactions > 20, `the workload wrote during the copy (${stats.transactions - stats0.transactions} transactions)`);
    await waitForCatchUp(stack, PIPELINE, 180_000, sdl);
    await assertMirrorsEqual(stack, ['shop']);
    // Snapshot reads are `r` events; the changes are each logged once, none added or lost.
    assert.deepEqual(await shopEventCounts(stack), changesSince(stats));
    const done = await request(client, 'shop.customers');
    assert.equal(done?.done, true);
    const ordersDone = await request(client, 'shop.orders');
    t.diagnostic(`keys left to newer streamed changes: customers ${done?.skipped}, orders ${ordersDone?.skipped}`);
    const msgs = sdl.lines().map((l) => String(l['msg']));
    assert.ok(msgs.some((m) => /^online snapshot of shop\.customers complete: \d+ rows read, \d+ of them left to newer streamed changes/.test(m)), 'completion line');
    // The extra document is gone. The line may count more: rows deleted at the source before the
    // first view whose delete the lagging stream had not applied yet are removed by the copy.
    assert.equal(await customers.countDocuments({ _id: 999_999_999 } as Document), 0, 'the extra document was deleted');
    assert.ok(msgs.some((m) => /^online snapshot: deleted [1-9]\d* mirror documents of shop\.customers whose rows no longer exist/.test(m)), `the deletion is logged: ${msgs.filter((m) => m.startsWith('online snapshot')).join(' | ')}`);
    assert.ok(msgs.some((m) => m === 'snapshot: copying shop.customers'), 'start line');
  });

  it('ADD COLUMN … DEFAULT on a table with untouched rows: every mirror document carries the default', async () => {
    const before = await request(client, 'extra.items');
    await conn.query("ALTER TABLE extra.items ADD COLUMN c VARCHAR(10) NOT NULL DEFAULT 'x'");
    await conn.query("UPDATE extra.items SET note = 'touched' WHERE id = 7");
    await waitFor('the online snapshot of extra.items after ADD COLUMN', async () => {
      const r = await request(client, 'extra.items');
      return r !== null && r.done && r.generation !== before?.generation ? r : undefined;
    }, sdl);
    await waitForCatchUp(stack, PIPELINE, 180_000, sdl);
    const items = client.db('extra').collection<Document>('items');
    assert.equal(await items.countDocuments({}), 400);
    assert.equal(await items.countDocuments({ c: 'x' }), 400, 'every document has c = x');
    await assertMirrorsEqual(stack, ['extra']);
    assert.ok(sdl.lines().some((l) => /^extra\.items: ADD COLUMN c may change stored rows without row events: re-snapshotting extra\.items online/.test(String(l['msg']))));
  });

  it('DROP COLUMN c then ADD COLUMN c: c is null in every untouched document', async () => {
    await conn.query('ALTER TABLE extra.items DROP COLUMN c');
    await conn.query('ALTER TABLE extra.items ADD COLUMN c VARCHAR(10)');
    await conn.query("UPDATE extra.items SET note = 'touched again' WHERE id = 8");
    await waitForCatchUp(stack, PIPELINE, 180_000, sdl);
    const items = client.db('extra').collection<Document>('items');
    assert.equal(await items.countDocuments({ c: null }), 400);
    assert.equal(await items.countDocuments({ c: { $exists: true } }), 400, 'the field is there, null');
    await assertMirrorsEqual(stack, ['extra']);
  });

  it('a table keyed by an ENUM (no exact keyset paging): the request is refused, the command exits 1 naming it, and later requests are copied', async () => {
    await conn.query("CREATE TABLE extra.tagged (kind ENUM('b', 'a') NOT NULL, id INT NOT NULL, note VARCHAR(20), PRIMARY KEY (kind, id))");
    await conn.query("INSERT INTO extra.tagged VALUES ('a', 1, 'x'), ('b', 2, 'y')");
    await waitForCatchUp(stack, PIPELINE, 60_000, sdl);
    // Before the fix the instance retried the permanent SNAPSHOT_KEY error every 5 s forever and the command never returned.
    const r = await Promise.race([sdlSnapshot(stack, 'extra.tagged'), sleep(60_000).then(() => ({ code: -2, out: 'still waiting after 60 s', err: '' }))]);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /extra\.tagged: not copied \(.*refused: .*enum/);
    assert.ok(sdl.running, sdl.logs().slice(-2000));
    const refused = sdl.lines().find((l) => l['level'] === 50 && String(l['msg']).startsWith('online snapshot of extra.tagged refused'));
    assert.ok(refused !== undefined, 'an error line names the refused table');
    const next = await sdlSnapshot(stack, 'extra.items');
    assert.equal(next.code, 0, next.out + next.err);
    await conn.query('DROP TABLE extra.tagged');
  });

  it('sdl snapshot --tables with MySQL unreachable: exit 1 naming MySQL and what to do, nothing requested', async () => {
    const before = await request(client, 'extra.items');
    const env = { SDL_PIPELINE: PIPELINE, SDL_INCLUDE: INCLUDE, SDL_HTTP_ADDR: 'off', SDL_MYSQL_URL: `mysql://root@127.0.0.1:${await freePort()}/` };
    const r = await sdlCommand(stack, 'snapshot', env, ['--tables', 'extra.items']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^sdl: MySQL \(listing the tables to re-snapshot\): .*ECONNREFUSED.*; nothing was requested$/m);
    assert.match(r.stderr, /^sdl: what to do: /m);
    assert.deepEqual(await request(client, 'extra.items'), before, 'no request written');
  });

  it('kill -9 during an online snapshot: the next start resumes after its last saved chunk and ends equal', async () => {
    await conn.query("INSERT INTO extra.items (id, note) SELECT 1000 + seq, CONCAT('more ', seq) FROM extra.seq_1_to_1600");
    await waitForCatchUp(stack, PIPELINE, 180_000, sdl);
    await client.db('extra').collection('items').updateMany({}, { $set: { note: 'damaged' } });
    const background = new BackgroundWorkload(workload, 100);
    let stats;
    try {
      // `sdl snapshot --tables` waits until the copy is done: it keeps waiting across the kill.
      const command = sdlSnapshot(stack, 'extra.items');
      const atKill = await waitFor('a few chunks of extra.items', async () => {
        const r = await request(client, 'extra.items');
        return r !== null && !r.done && r.rows >= 200 ? r : undefined;
      }, sdl);
      await sdl.kill9();
      const saved = await request(client, 'extra.items');
      assert.ok(saved !== null && !saved.done && saved.rows >= atKill.rows, 'progress survives the kill');
      // With no instance running, `sdl status` reads the copy's progress from MongoDB.
      const st = await sdlCommand(stack, 'status', { SDL_PIPELINE: PIPELINE, SDL_INCLUDE: INCLUDE, SDL_HTTP_ADDR: 'off' }, ['--json']);
      assert.equal(st.code, 0, st.stderr);
      const copies = (JSON.parse(st.stdout) as { stored: { tableCopies: { table: string; rows: number; estimatedRows: number | null; rowsPerSecond: number | null; etaSeconds: number | null }[] } }).stored.tableCopies;
      const copy = copies.find((c) => c.table === 'extra.items');
      assert.ok(copy !== undefined && copy.rows === saved.rows && (copy.estimatedRows ?? 0) > 0 && (copy.rowsPerSecond ?? 0) > 0 && copy.etaSeconds !== null, `sdl status shows the copy with rate and ETA: ${st.stdout}`);
      const human = await sdlCommand(stack, 'status', { SDL_PIPELINE: PIPELINE, SDL_INCLUDE: INCLUDE, SDL_HTTP_ADDR: 'off' });
      assert.match(human.stdout, /table copy {5}extra\.items: \d+ of ~\d+ rows, \d+ rows\/s, about \d+ s left/);
      // MongoDB away longer than the command's server selection (10 s): it goes on waiting.
      await stack.mongo.stop();
      await sleep(15_000);
      await stack.mongo.start();
      sdl = startSdl('sdl-after-kill');
      const r = await command;
      assert.equal(r.code, 0, r.out + r.err);
      assert.match(r.out, /MongoDB unreachable \(.*\); still waiting: sdl run goes on copying\n(.*\n)*MongoDB reachable again after \d+ s\n/, 'the wait rides out the outage and says so');
      const resumed = sdl.lines().find((l) => /^snapshot: resuming extra\.items after \d+ rows$/.test(String(l['msg'])));
      assert.ok(resumed !== undefined, `the new instance resumed instead of starting over:\n${sdl.logs().slice(-3000)}`);
      assert.ok(Number(resumed['rows']) >= saved.rows && saved.rows > 0, `resumed after ${String(resumed['rows'])} rows (saved: ${saved.rows})`);
      const doneDoc = await request(client, 'extra.items');
      assert.equal(doneDoc?.done, true);
      assert.ok((doneDoc?.rows ?? 0) >= 2000, `every row counted once or more (${doneDoc?.rows})`);
    } finally {
      stats = await background.stop();
    }
    await waitForCatchUp(stack, PIPELINE, 180_000, sdl);
    assert.equal(await client.db('extra').collection('items').countDocuments({ note: 'damaged' }), 0);
    await assertMirrorsEqual(stack, ['shop', 'extra']);
    assert.deepEqual(await shopEventCounts(stack), changesSince(stats));
  });
  it('a table the workload keeps growing above the copy (increasing keys, faster than the copy): the copy ends at the first view\'s last key, across a kill -9, and the mirror ends equal', async () => {
    await conn.query('CREATE TABLE extra.grow (id BIGINT PRIMARY KEY, note VARCHAR(40)) CHARSET utf8mb4');
    await conn.query("INSERT INTO extra.grow SELECT seq, CONCAT('first ', seq) FROM extra.seq_1_to_300");
    let inserted = 300;
    await waitForCatchUp(stack, PIPELINE, 180_000, sdl);
    await client.db('extra').collection('grow').updateMany({}, { $set: { note: 'damaged' } });
    // Above every key so far, twice a chunk's rows each time the copy saves a chunk: faster than the copy, whatever its speed.
    let inserting = true;
    let next = 301;
    const inserter = (async () => {
      let seen = -1;
      while (inserting) {
        const r = await request(client, 'extra.grow');
        if (r !== null && r.rows !== seen) {
          seen = r.rows;
          await conn.query(`INSERT INTO extra.grow SELECT ? + seq, 'later' FROM extra.seq_0_to_${2 * Number(CHUNK_ROWS) - 1}`, [next]);
          next += 2 * Number(CHUNK_ROWS);
          inserted += 2 * Number(CHUNK_ROWS);
        }
        await sleep(100);
      }
    })();
    let atDone: number;
    let copied: Request | null;
    try {
      const command = sdlSnapshot(stack, 'extra.grow');
      const atKill = await waitFor('a few chunks of extra.grow', async () => {
        const r = await request(client, 'extra.grow');
        return r !== null && !r.done && r.rows >= 100 ? r : undefined;
      }, sdl);
      await sdl.kill9();
      const saved = await request(client, 'extra.grow');
      assert.ok(saved !== null && !saved.done && saved.rows >= atKill.rows && Array.isArray(saved.upTo), `the bound is saved with the progress: ${JSON.stringify(saved)}`);
      sdl = startSdl('sdl-grow-after-kill');
      // Without the bound the copy chases the inserts and does not end while they go on.
      const r = await Promise.race([command, sleep(240_000).then(() => null)]);
      assert.ok(r !== null, `the copy ended while the inserts went on (${inserted - 300} rows inserted, copy at ${(await request(client, 'extra.grow'))?.rows} rows)`);
      assert.equal(r.code, 0, r.out + r.err);
      atDone = inserted;
      copied = await request(client, 'extra.grow');
      assert.deepEqual(copied?.upTo, saved.upTo, 'the resumed copy kept the first view\'s bound');
    } finally {
      inserting = false;
      await inserter;
    }
    assert.ok(copied !== null && copied.done && copied.rows < atDone - 300, `the inserts outran the copy: ${atDone - 300} rows inserted meanwhile, ${copied?.rows} read by the copy`);
    await waitForCatchUp(stack, PIPELINE, 180_000, sdl);
    assert.equal(await client.db('extra').collection('grow').countDocuments({ note: 'damaged' }), 0);
    await assertMirrorsEqual(stack, ['extra']);
    assert.deepEqual(await eventCounts(stack, 'extra', 'grow', { reads: false }), { insert: inserted });
  });
  it('sdl verify --repair and sdl replay refuse (exit 1, naming the copy) while an online copy of a table they would write is unfinished, and run once it is done', async () => {
    const env = { SDL_PIPELINE: PIPELINE, SDL_INCLUDE: INCLUDE, SDL_HTTP_ADDR: 'off' };
    await sdl.stop();
    // With no instance running the request waits: the copy is unfinished until the next start.
    const requested = await sdlSnapshot(stack, 'extra.items');
    assert.equal(requested.code, 0, requested.out + requested.err);
    const items = client.db('extra').collection<Document>('items');
    await items.updateOne({ _id: 5 } as Document, { $set: { note: 'damaged' } });
    const repair = await sdlCommand(stack, 'verify', env, ['--tables', 'extra.items', '--repair']);
    assert.equal(repair.code, 1, repair.stdout + repair.stderr);
    assert.match(repair.stderr, /^sdl verify --repair refused: the online snapshot of extra\.items \(pipeline online, 0 rows read\) is not finished/);
    assert.match(repair.stderr, /`sdl snapshot --tables extra\.items` waits for it/);
    assert.equal((await items.findOne({ _id: 5 } as Document))?.['note'], 'damaged', 'nothing repaired');
    // A repair of another table, and a verify without --repair, do not write beside the copy.
    const other = await sdlCommand(stack, 'verify', env, ['--tables', 'shop.customers', '--repair']);
    assert.equal(other.code, 0, other.stdout + other.stderr);
    const readOnly = await sdlCommand(stack, 'verify', env, ['--tables', 'extra.items']);
    assert.equal(readOnly.code, 1, readOnly.stdout + readOnly.stderr);
    assert.match(readOnly.stdout, /different {2}\{"v":\{"\$numberInt":"5"\}\} note: mysql \{"v":"item 5"\}, mongo \{"v":"damaged"\}/);

    // A dead letter that would write the mirror of extra.items (a delete of a key no row has).
    const sdlDb = client.db('sdl');
    const gone = { id: 'online/test-letter#0', seq: '0', op: 'delete' as const, db: 'extra', table: 'items', key: 999_999, before: null, after: null, h: null, gtid: undefined, ts: Date.now() };
    await writeDeadLetters(sdlDb, [{ change: gone, target: { kind: 'mirror', db: 'extra', collection: 'items' }, reason: { code: 1, message: 'test' } }]);
    const replay = await sdlCommand(stack, 'replay', env);
    assert.equal(replay.code, 1, replay.stdout + replay.stderr);
    assert.match(replay.stderr, /^sdl replay refused: the online snapshot of extra\.items \(pipeline online, 0 rows read\) is not finished/);
    assert.equal(await sdlDb.collection('dead_letters').countDocuments({ replayed: false }), 1, 'the letter waits');

    sdl = startSdl('sdl-after-refusals');
    await waitFor('the online snapshot of extra.items', async () => {
      const r = await request(client, 'extra.items');
      return r?.done === true ? r : undefined;
    }, sdl);
    const replayed = await sdlCommand(stack, 'replay', env);
    assert.equal(replayed.code, 0, replayed.stdout + replayed.stderr);
    assert.equal(await sdlDb.collection('dead_letters').countDocuments({ replayed: false }), 0);
    await items.updateOne({ _id: 6 } as Document, { $set: { note: 'damaged' } });
    const repaired = await sdlCommand(stack, 'verify', env, ['--tables', 'extra.items', '--repair']);
    assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
    await waitForCatchUp(stack, PIPELINE, 180_000, sdl);
    await assertMirrorsEqual(stack, ['extra']);
  });
});
