import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Decimal128, MongoClient, type Document } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import { probeCapabilities } from '../../src/mongo/capabilities.js';
import { verify, type VerifyReport } from '../../src/verify/verify.js';
import { sleep } from '../support/fault-run.js';
import { SdlProcess, sdlEnv, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { rng } from '../support/workload.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ENV = { SDL_PIPELINE: 'test', SDL_INCLUDE: 'shop' };

/** `sdl verify` as an operator runs it: exit code, stdout, stderr. */
function sdlVerify(stack: Stack, args: string[] = []): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'verify', ...args], { env: sdlEnv(stack, ENV), timeout: 180_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

async function verifyJson(stack: Stack, args: string[] = []): Promise<{ code: number; report: VerifyReport }> {
  const r = await sdlVerify(stack, ['--json', ...args]);
  try {
    return { code: r.code, report: JSON.parse(r.out) as VerifyReport };
  } catch {
    throw new Error(`sdl verify --json printed no report (exit ${r.code}):\n${r.out}\n${r.err}`);
  }
}

const ROWS = 300;

describe('sdl verify: finds each kind of damage with its key, --repair fixes it, no false difference while replicating', () => {
  let stack: Stack;
  let client: MongoClient;
  let conn: Connection;
  let sdl: SdlProcess;

  before(async () => {
    stack = await startStack();
    client = new MongoClient(stack.mongo.url);
    conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE shop');
    await conn.query(`CREATE TABLE shop.items (
        id INT PRIMARY KEY, amount DECIMAL(30,10) NOT NULL, note VARCHAR(40), at DATETIME(6), f DOUBLE, raw VARBINARY(8), big BIGINT UNSIGNED, j JSON
      ) CHARSET utf8mb4`);
    await conn.query(`INSERT INTO shop.items
        SELECT seq, seq / 7, CONCAT('row ', seq, ' ✓'), TIMESTAMPADD(MICROSECOND, seq * 1001, '2024-01-01'), seq / 3, UNHEX(LPAD(HEX(seq), 8, '0')),
               18446744073709551615 - seq, JSON_OBJECT('n', seq)
          FROM shop.seq_1_to_${ROWS}`);
    await conn.query('CREATE TABLE shop.other (k VARCHAR(10) PRIMARY KEY, v INT)');
    await conn.query("INSERT INTO shop.other VALUES ('a', 1), ('b', 2)");
    sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'test', include: 'shop' });
    sdl.start();
    await waitForCatchUp(stack, 'test', 180_000, sdl);
  });
  after(async () => {
    await sdl?.stop();
    await conn?.end();
    await client?.close();
    await stack?.stop();
  });

  it('an undamaged mirror: exit 0, every row counted', async () => {
    const { code, report } = await verifyJson(stack);
    assert.equal(code, 0, JSON.stringify(report));
    const items = report.tables.find((t) => t.table === 'items');
    assert.equal(items?.sourceRows, ROWS);
    assert.equal(items?.mirrorDocs, ROWS);
    assert.deepEqual(items?.counts, { missing: 0, extra: 0, different: 0, unsettled: 0 });
  });

  it('a deleted, an extra, a changed field and one changed DECIMAL digit: each reported with its key, exit 1; --tables and a wrong --tables', async () => {
    const items = client.db('shop').collection<Document>('items');
    const six = await items.findOne({ _id: 6 } as Document);
    assert.ok(six !== null);
    const eight = String((await items.findOne({ _id: 8 } as Document))?.['amount']);
    // One digit changed: 1.1428571420 (8/7 as MariaDB divides) becomes 1.1428571430.
    assert.equal(eight, '1.1428571420');
    await items.deleteOne({ _id: 5 } as Document);
    await items.insertOne({ ...six, _id: 9999 } as Document);
    await items.updateOne({ _id: 7 } as Document, { $set: { note: 'tampered' } });
    // Same BSON type as stored (Decimal128 on MongoDB; FerretDB without decimal128 gets the exact text).
    const doc8 = await items.findOne({ _id: 8 } as Document);
    assert.ok(doc8 !== null);
    doc8['amount'] = doc8['amount'] instanceof Decimal128 ? Decimal128.fromString('1.1428571430') : '1.1428571430';
    await items.replaceOne({ _id: 8 } as Document, doc8);

    const human = await sdlVerify(stack);
    assert.equal(human.code, 1, human.out + human.err);
    assert.match(human.out, /shop\.items: 300 rows, 300 documents; missing 1, extra 1, different 2/);
    assert.match(human.out, /missing +\{"v":\{"\$numberInt":"5"\}\}/);
    assert.match(human.out, /extra +\{"v":\{"\$numberInt":"9999"\}\}/);
    assert.match(human.out, /different +\{"v":\{"\$numberInt":"7"\}\} note: mysql .*row 7 ✓.*, mongo .*tampered/);
    assert.match(human.out, /different +\{"v":\{"\$numberInt":"8"\}\} amount: mysql .*1\.1428571420.*, mongo .*1\.1428571430/);
    assert.match(human.out, /shop\.other: 2 rows, 2 documents; missing 0, extra 0, different 0/);
    assert.match(human.out, /verify: DIFFERENT/);

    const json = await verifyJson(stack);
    assert.equal(json.code, 1);
    const t = json.report.tables.find((x) => x.table === 'items');
    assert.deepEqual(t?.counts, { missing: 1, extra: 1, different: 2, unsettled: 0 });
    assert.deepEqual(t?.different.map((d) => d.field).sort(), ['amount', 'note']);

    const other = await verifyJson(stack, ['--tables', 'shop.other']);
    assert.equal(other.code, 0, JSON.stringify(other.report));
    assert.deepEqual(other.report.tables.map((x) => `${x.db}.${x.table}`), ['shop.other']);

    const wrong = await sdlVerify(stack, ['--tables', 'shop.nope']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.err, /--tables: shop\.nope is not an included table/);
  });

  it('--repair rewrites exactly the damaged keys as snapshot reads; verify then exits 0', async () => {
    const items = client.db('shop').collection<Document>('items');
    const untouched = await items.findOne({ _id: 100 } as Document);
    const { code, report } = await verifyJson(stack, ['--repair']);
    assert.equal(code, 0, JSON.stringify(report));
    const t = report.tables.find((x) => x.table === 'items');
    assert.deepEqual(t?.repaired, { written: 3, deleted: 1, skippedNewer: 0, failed: 0 });
    assert.equal(report.tables.find((x) => x.table === 'other')?.repaired, undefined);

    const after = await sdlVerify(stack);
    assert.equal(after.code, 0, after.out + after.err);
    assert.equal(await items.countDocuments({ _id: 9999 } as Document), 0);
    assert.equal(String((await items.findOne({ _id: 8 } as Document))?.['amount']), '1.1428571420');
    const repaired = await items.findOne({ _id: 5 } as Document);
    assert.equal((repaired?.['_sdl'] as Document | undefined)?.['op'], 'r');
    // Nothing else was rewritten.
    assert.deepEqual(await items.findOne({ _id: 100 } as Document), untouched);
    // One read event per repaired row, beside the initial snapshot's (which sdl took at its first start).
    const events = await client.db('sdl').collection<Document>('row_changes').find({ db: 'shop', table: 'items', op: 'r' }).toArray();
    const repairs = events.filter((e) => String(e['_id']).startsWith('test/repair@'));
    assert.deepEqual(repairs.map((e) => Number((e['after'] as Document)['id'])).sort((a, b) => a - b), [5, 7, 8]);
    assert.equal(events.length - repairs.length, ROWS);
  });

  it('while a write workload runs and sdl replicates, verify reports no difference', async () => {
    const writer = await stack.mariadb.connect();
    const random = rng(7);
    let running = true;
    let nextId = 100_000;
    let writes = 0;
    let rechecked = 0;
    const load = (async () => {
      while (running) {
        const id = 1 + Math.floor(random() * ROWS);
        const kind = random();
        if (kind < 0.6) await writer.query('UPDATE shop.items SET amount = amount + 0.0000000001, note = CONCAT(?, id), at = NOW(6) WHERE id = ?', [`w${writes} `, id]);
        else if (kind < 0.8) await writer.query(`INSERT INTO shop.items VALUES (?, 1.5, 'new', NOW(6), 0.1, NULL, 1, '{}')`, [nextId++]);
        else await writer.query('DELETE FROM shop.items WHERE id = ? OR id = ?', [id, nextId - 1]);
        writes++;
        await sleep(5);
      }
    })();
    try {
      for (let i = 0; i < 3; i++) {
        const { code, report } = await verifyJson(stack, ['--tables', 'shop.items']);
        assert.equal(code, 0, JSON.stringify(report));
        assert.ok((report.tables[0]?.sourceRows ?? 0) > 0);
        rechecked += report.tables[0]?.rechecked ?? 0;
      }
    } finally {
      running = false;
      await load;
      await writer.end();
    }
    assert.ok(writes > 50, `only ${writes} writes ran during verify`);
    // The first passes did see the mirror behind (or ahead of) the source: the re-check, not luck, made them equal.
    assert.ok(rechecked > 0, 'no difference was ever re-checked: the workload did not exercise the rule');
    await waitForCatchUp(stack, 'test', 180_000, sdl);
    assert.equal((await sdlVerify(stack)).code, 0);
  });

  it('a mirror of a table the source does not have (a restored backup) is reported, exit 1, and --repair removes it; a table dropped just now and a user\'s collection are not reported', async () => {
    // As sdl writes mirror documents, for a table `gone_table` that no longer exists.
    await client.db('shop').collection<{ _id: number; v: number; _sdl: { pos: string; op: string } }>('gone_table').insertMany([1, 2].map((id) => ({ _id: id, v: id, _sdl: { pos: 'e000000:0000000001:000000000004:00000000', op: 'insert' } })));
    await client.db('shop').collection<{ _id: number; text: string }>('notes').insertOne({ _id: 1, text: 'mine' });
    await conn.query('CREATE TABLE shop.brief (id INT PRIMARY KEY)');
    await conn.query('INSERT INTO shop.brief VALUES (1), (2)');
    await waitForCatchUp(stack, 'test', 120_000, sdl);
    // Its DROP is still in the stream while verify starts: it must wait for it, not report it.
    await conn.query('DROP TABLE shop.brief');
    const found = await verifyJson(stack);
    assert.equal(found.code, 1, JSON.stringify(found.report));
    assert.deepEqual(found.report.orphans, [{ db: 'shop', collection: 'gone_table', table: 'shop.gone_table' }]);
    assert.ok(found.report.tables.every((t) => t.counts.missing + t.counts.extra + t.counts.different === 0), JSON.stringify(found.report));
    const human = await sdlVerify(stack);
    assert.match(human.out, /^shop\.gone_table: mirror of shop\.gone_table, which the source does not have; --repair removes it$/m);
    // --tables compares the tables named; it does not look for others.
    assert.equal((await sdlVerify(stack, ['--tables', 'shop.items'])).code, 0);
    const repaired = await verifyJson(stack, ['--repair']);
    assert.equal(repaired.code, 0, JSON.stringify(repaired.report));
    assert.deepEqual(repaired.report.orphans, [{ db: 'shop', collection: 'gone_table', table: 'shop.gone_table', removed: true }]);
    const collections = (await client.db('shop').listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
    assert.deepEqual(collections, ['items', 'notes', 'other']);
    assert.equal((await sdlVerify(stack)).code, 0);
    await client.db('shop').collection('notes').drop();
  });

  it('the source pass holds no view across chunks: an ALTER of the table during verify does not wait for verify to end', async () => {
    await conn.query('CREATE TABLE shop.long (id INT PRIMARY KEY, v INT)');
    await conn.query('INSERT INTO shop.long SELECT seq, seq FROM shop.seq_1_to_8000');
    await waitForCatchUp(stack, 'test', 180_000, sdl);
    let ended = false;
    const caps = await probeCapabilities(client, client.db('sdl'));
    const opts = { mysqlUrl: stack.mariadb.url, include: ['shop'], tables: ['shop.long'], mongo: client, databaseMap: {}, caps, chunkRows: 4, pipeline: { db: client.db('sdl'), name: 'test' } };
    const run = verify(opts).finally(() => {
      ended = true;
    });
    // Under way: its chunk reads of shop.long show in the process list.
    const watcher = await stack.mariadb.connect();
    try {
      for (;;) {
        const [rows] = await watcher.query("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE '%`shop`.`long`%LIMIT 4%'");
        if (Number((rows as { n: number }[])[0]?.n) > 0) break;
        assert.ok(!ended, 'verify ended before its chunk reads were seen');
        await sleep(5);
      }
      // Before: the pass's one view held a metadata lock on the table until the pass ended, and
      // this ALTER (with every write queued behind it) waited for it: here, past its lock wait
      // timeout. A chunk's own view holds the lock for one chunk's read.
      await watcher.query('SET SESSION lock_wait_timeout = 2');
      // An index: the mirror has nothing to change (an ADD COLUMN would rewrite 8000 documents, minutes on FerretDB).
      await watcher.query('ALTER TABLE shop.long ADD INDEX by_v (v)');
      assert.ok(!ended, 'the ALTER returned while verify was still running');
    } finally {
      await watcher.end();
      await run.catch(() => undefined);
    }
    const report = await run;
    assert.ok(report.ok, JSON.stringify(report.tables));
    assert.equal(report.tables[0]?.sourceRows, 8000);
  });

  it('--repair while sdl is behind an ADD COLUMN and an update of it: the repaired documents keep the update once sdl replays the DDL', async () => {
    await sdl.stop();
    await conn.query('ALTER TABLE shop.other ADD COLUMN c VARCHAR(10) NULL, DROP COLUMN v, ADD COLUMN v INT NULL');
    await conn.query("UPDATE shop.other SET c = 'set', v = 7 WHERE k = 'a'");
    // The mirror still has the old shape (no c, the old v): every document differs and is repaired at a view after the DDL.
    const { code, report } = await verifyJson(stack, ['--tables', 'shop.other', '--repair']);
    assert.equal(code, 0, JSON.stringify(report));
    assert.equal(report.tables[0]?.repaired?.written, 2, JSON.stringify(report));
    sdl.start();
    await waitForCatchUp(stack, 'test', 180_000, sdl);
    // The stream applied the ALTER after the repair: before the fix its null for c and v was left over the repaired 'set' and 7.
    const a = await client.db('shop').collection<Document>('other').findOne({ _id: 'a' } as Document);
    assert.equal(a?.['c'], 'set', JSON.stringify(a));
    assert.equal(a?.['v'], 7, JSON.stringify(a));
    const after = await sdlVerify(stack, ['--tables', 'shop.other']);
    assert.equal(after.code, 0, after.out + after.err);
  });
});
