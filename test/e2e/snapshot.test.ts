import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import { canonical } from '../../src/verify/verify.js';
import { ALL_TYPES_SQL } from '../support/all-types.js';
import { scrape } from '../support/metrics.js';
import { purgeBinlogs, streamFromHere } from '../support/binlog.js';
import { shopEventCounts, shopWorkload, sleep } from '../support/fault-run.js';
import { freePort } from '../support/ports.js';
import { SdlProcess, waitForCatchUp, waitForLine } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';
import { BackgroundWorkload, rng } from '../support/workload.js';

const BULK_ROWS = 20_000;

/** A table of `rows` rows with several column kinds, filled by the server itself. */
async function bulkTable(conn: Connection, name: string, rows: number): Promise<void> {
  await conn.query(`CREATE TABLE ${name} (
      id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(40), amount DECIMAL(20,6), at DATETIME(6), raw VARBINARY(8), f DOUBLE
    ) CHARSET utf8mb4`);
  await conn.query(`INSERT INTO ${name}
      SELECT seq, 0, CONCAT('row ', seq, ' ✓'), seq / 7, TIMESTAMPADD(MICROSECOND, seq * 1001, '2024-01-01'), UNHEX(LPAD(HEX(seq), 8, '0')), seq / 3
        FROM ${name.split('.')[0] ?? ''}.seq_1_to_${rows}`);
}

/** Source writes by kind, counted only once committed. */
interface Counts {
  insert: number;
  update: number;
  delete: number;
}

/** Random single-row writes to a bulk table until stopped; counts what each changed. */
class BulkWriter {
  readonly counts: Counts = { insert: 0, update: 0, delete: 0 };
  /** Ids whose row this writer deleted. */
  readonly deleted = new Set<number>();
  private running = true;
  private readonly done: Promise<void>;

  constructor(conn: Connection, table: string, seed: number, kinds: readonly (keyof Counts)[]) {
    const random = rng(seed);
    let nextId = BULK_ROWS * 10;
    this.done = (async () => {
      while (this.running) {
        const kind = kinds[Math.floor(random() * kinds.length)] ?? 'update';
        const id = 1 + Math.floor(random() * BULK_ROWS);
        let res: unknown;
        if (kind === 'insert') [res] = await conn.query(`INSERT INTO ${table} VALUES (?, 1, 'new', 1.5, NOW(6), NULL, 0.1)`, [nextId++]);
        else if (kind === 'update') [res] = await conn.query(`UPDATE ${table} SET v = v + 1, note = CONCAT('updated ', v + 1), at = NOW(6) WHERE id = ?`, [id]);
        else [res] = await conn.query(`DELETE FROM ${table} WHERE id = ?`, [id]);
        this.counts[kind] += (res as { affectedRows: number }).affectedRows;
        if (kind === 'delete' && (res as { affectedRows: number }).affectedRows > 0) this.deleted.add(id);
        await sleep(50);
      }
    })();
  }

  async stop(): Promise<Counts> {
    this.running = false;
    await this.done;
    return this.counts;
  }
}

function changes(c: Record<string, number>): Counts {
  return { insert: c['insert'] ?? 0, update: c['update'] ?? 0, delete: c['delete'] ?? 0 };
}

async function count(conn: Connection, sql: string): Promise<number> {
  const [rows] = await conn.query(sql);
  return Number((rows as { n: number | string }[])[0]?.n);
}


describe('sdl run: initial snapshot', () => {
  let stack: Stack;
  let client: MongoClient;
  before(async () => {
    stack = await startStack();
    client = new MongoClient(stack.mongo.url);
  });
  after(async () => {
    await client?.close();
    await stack?.stop();
  });

  it('on a server whose binlogs were purged: copies every table while writes go on, then streams; mirrors equal, events exact', async (t) => {
    const conn = await stack.mariadb.connect();
    await conn.query(`${ALL_TYPES_SQL}
      SET SESSION sql_mode = DEFAULT;
      CREATE DATABASE snap;
      CREATE TABLE snap.ck (k VARCHAR(10) NOT NULL, n BIGINT UNSIGNED NOT NULL, at DATETIME(6) NOT NULL, v INT, PRIMARY KEY (k, n, at)) CHARSET utf8mb4;
      INSERT INTO snap.ck SELECT CHAR(97 + seq % 5), 18446744073709551615 - seq % 7, TIMESTAMPADD(MICROSECOND, seq, '2024-01-01'), seq FROM snap.seq_1_to_3000;`);
    await bulkTable(conn, 'snap.bulk', BULK_ROWS);
    // Rows from before the oldest retained binlog: only a snapshot can bring them.
    const { workload: before } = await shopWorkload(stack, 1);
    await before.run(100);
    await purgeBinlogs(conn);

    const port = await freePort();
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'snap', include: 'shop,types,snap', env: { SDL_SNAPSHOT_CHUNK_ROWS: '500', SDL_HTTP_ADDR: `127.0.0.1:${port}` } });
    sdl.start();
    let writer: BulkWriter | undefined;
    let shop: BackgroundWorkload | undefined;
    try {
      await waitForLine(sdl, /^no checkpoint: initial snapshot/);
      // Everything written from here on is after the view's position: it must arrive by the binlog.
      const writerConn = await stack.mariadb.connect();
      writer = new BulkWriter(writerConn, 'snap.bulk', 7, ['insert', 'update', 'update', 'delete']);
      const { workload: during } = await shopWorkload(stack, 2);
      shop = new BackgroundWorkload(during, 400);
      await waitForLine(sdl, /^snapshot: snap\.bulk \d+ of ~\d+ rows, \d+ rows\/s, ETA/);
      const metrics = await scrape(`http://127.0.0.1:${port}`);
      assert.ok((metrics.get('sdl_snapshot_rows{table="snap.bulk"}') ?? 0) > 0, 'snapshot rows in /metrics');
      assert.ok((metrics.get('sdl_snapshot_rows_estimated{table="snap.bulk"}') ?? 0) > 0, 'estimate in /metrics');
      assert.equal(metrics.get('sdl_snapshot_running'), 1);
      await waitForLine(sdl, /^initial snapshot complete/);
      const writesDuring = writer.counts.insert + writer.counts.update + writer.counts.delete;
      assert.ok(writesDuring > 20, `writes ran during the snapshot (${writesDuring})`);
      await sleep(1000);
      const bulkChanges = await writer.stop();
      const bulkDeleted = writer.deleted;
      const shopChanges = await shop.stop();
      writer = undefined;
      shop = undefined;
      await writerConn.end();
      await waitForCatchUp(stack, 'snap', 180_000, sdl);
      await assertMirrorsEqual(stack, ['shop', 'types', 'snap']);
      assert.equal((await scrape(`http://127.0.0.1:${port}`)).get('sdl_snapshot_running'), 0);
      assert.ok(!sdl.logs().includes('BINLOG_PURGED'));

      // Changes are exactly the writes after the first view. Reads (`r`) are one per row its
      // chunk's view held: every row of the first view the writer did not delete, a row it deleted
      // only if its chunk came first, never a row it inserted (above the first view's last key).
      const bulk = await eventCounts(stack, 'snap', 'bulk');
      assert.deepEqual(changes(bulk), bulkChanges, 'snap.bulk: each change after the view exactly once');
      const read = new Set((await client.db('sdl').collection('row_changes').find({ db: 'snap', table: 'bulk', op: 'r' }, { projection: { 'after.id': 1 } }).toArray()).map((e) => Number((e['after'] as { id: unknown }).id)));
      assert.equal(read.size, bulk['r'], 'one read per key');
      const unread = Array.from({ length: BULK_ROWS }, (_, i) => i + 1).filter((id) => !read.has(id) && !bulkDeleted.has(id));
      assert.deepEqual(unread, [], 'every row of the first view not deleted since has a read');
      assert.deepEqual([...read].filter((id) => id < 1 || id > BULK_ROWS), [], 'no read of a row inserted after the first view');
      assert.deepEqual(await shopEventCounts(stack), { insert: shopChanges.inserts, update: shopChanges.updates, delete: shopChanges.deletes });
      // The first workload's rows (ids below 2,000,000) are the ones the view held; shop.audit has no key: not copied.
      assert.equal((await eventCounts(stack, 'shop', 'customers'))['r'], await count(conn, 'SELECT COUNT(*) AS n FROM shop.customers WHERE id < 2000000'));
      assert.equal((await eventCounts(stack, 'shop', 'orders'))['r'], await count(conn, 'SELECT COUNT(*) AS n FROM shop.orders WHERE customer_id < 2000000'));
      assert.equal((await eventCounts(stack, 'shop', 'audit'))['r'], undefined);
      assert.deepEqual(await eventCounts(stack, 'types', 't'), { r: 4 });
      assert.deepEqual(await eventCounts(stack, 'snap', 'ck'), { r: 3000 });
      assert.equal(await client.db('sdl').collection('snapshots').countDocuments({ _id: 'snap' as never }), 0, 'snapshot progress dropped once complete');
    } finally {
      for (const l of sdl.lines()) if (/^(snapshot|initial snapshot)/.test(String(l['msg'])) || l['level'] === 60) t.diagnostic(`${new Date(Number(l['time'])).toISOString()} ${String(l['msg'])}`);
      await writer?.stop();
      await shop?.stop();
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
      await conn.end();
    }
  });

  it('a copied document is identical to the streamed one (fields, BSON types, _id, _sdl.h and _sdl.raw)', async () => {
    // Left out: the values zongji decodes wrong today (YEAR 0000 as 1900, an invalid ENUM '' as
    // null, latin1 bytes 0x81/0x8D/0x8F/0x90/0x9D as U+FFFD; NOTES.md). The snapshot reads the
    // server's own values there, so the two differ until the streaming decoder is fixed.
    // The streamed copy reads the binlog from here (the first test purged what came before).
    await streamFromHere(stack, 'same-streamed');
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE same;
      CREATE TABLE same.t (
        id INT PRIMARY KEY, y YEAR, bu BIGINT UNSIGNED, dec1 DECIMAL(30,10), f FLOAT, d DOUBLE, e ENUM('red','green'), s SET('x','y','z'),
        bt BIT(12), da DATE, dt6 DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME(6), js JSON, l1 VARCHAR(10) CHARACTER SET latin1, bl BLOB, tx TEXT
      ) CHARSET utf8mb4;
      SET time_zone = '+00:00';
      SET SESSION sql_mode = '';
      INSERT INTO same.t VALUES
        (1, 1901, 18446744073709551615, -12345678901234567890.0123456789, 0.1, 1e308, 'red', 'x,z', b'101', '0000-00-00', '0000-00-00 00:00:00.000000', '1970-01-01 00:00:01.000001', '-838:59:59.000000', '{"big": 12345678901234567890, "a": [[1]]}', 'Ñandú', X'00FF', 'ü ✓ 😀'),
        (2, 2155, 0, 0, -0, -2.5e-300, 'green', '', b'0', '2024-02-29', '2024-02-00 10:00:00.5', '2038-01-19 03:14:07.999999', '00:00:00.000001', '[]', 'café', X'', ''),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);`);
    const file = stack.scratch.path('same-streamed.yaml');
    writeFileSync(file, 'mongo:\n  databaseMap:\n    same: same_streamed\n');
    const streamed = new SdlProcess(stack.scratch, stack, { pipeline: 'same-streamed', include: 'same', name: 'same-streamed', args: ['--config', file] });
    streamed.start();
    try {
      await waitForCatchUp(stack, 'same-streamed', 120_000, streamed);
    } finally {
      assert.equal(await streamed.stop(), 0, streamed.logs().slice(-3000));
    }
    const copied = new SdlProcess(stack.scratch, stack, { pipeline: 'same-copied', include: 'same', name: 'same-copied' });
    copied.start();
    try {
      await waitForLine(copied, /^initial snapshot complete/);
    } finally {
      assert.equal(await copied.stop(), 0, copied.logs().slice(-3000));
    }
    await conn.end();
    const read = async (db: string): Promise<Map<string, string>> => {
      const docs = await client.db(db).collection('t').find({}, { promoteValues: false, promoteLongs: false, promoteBuffers: false }).toArray();
      // Everything but where each came from (position, op, gtid, time).
      return new Map(docs.map((d) => {
        const { _sdl, ...rest } = d as unknown as { _sdl: { h: unknown; raw?: unknown } } & Record<string, unknown>;
        return [canonical(d['_id']), canonical({ ...rest, h: _sdl.h, raw: _sdl.raw ?? null })];
      }));
    };
    const fromBinlog = await read('same_streamed');
    const fromSnapshot = await read('same');
    assert.equal(fromBinlog.size, 3);
    assert.deepEqual(fromSnapshot, fromBinlog);
  });

  it('kill -9 at random points of the snapshot: each start resumes after its last committed chunk; ends equal', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE killsnap');
    await bulkTable(conn, 'killsnap.a', 4000);
    await bulkTable(conn, 'killsnap.b', BULK_ROWS);
    const progressDoc = async (): Promise<{ rows: number; done: string[]; current: { table: string; rows: number } | null } | null> =>
      client.db('sdl').collection<{ _id: string; rows: number; done: string[]; current: { table: string; rows: number } | null }>('snapshots').findOne({ _id: 'killsnap' });
    const random = rng(99);
    const env = { SDL_SNAPSHOT_CHUNK_ROWS: '300' };
    let writer: BulkWriter | undefined;
    const writerConn = await stack.mariadb.connect();
    let atKill: Awaited<ReturnType<typeof progressDoc>> = null;
    try {
      for (let round = 0; round < 3; round++) {
        const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'killsnap', include: 'killsnap', name: `killsnap-${round}`, env });
        sdl.start();
        await waitForLine(sdl, round === 0 ? /^no checkpoint: initial snapshot/ : /^resuming the initial snapshot/);
        // Updates only, so every row exists in every view: one read per row, whatever view copied it.
        writer ??= new BulkWriter(writerConn, 'killsnap.b', 11, ['update']);
        if (atKill !== null) {
          const cur = atKill.current;
          // The exact rows of the last saved chunk: not zero, not a chunk before it.
          if (cur !== null) await waitForLine(sdl, new RegExp(`^snapshot: resuming killsnap\\.${cur.table} after ${cur.rows} rows$`), 60_000);
          for (const t of atKill.done) assert.ok(!sdl.lines().some((l) => l['msg'] === `snapshot: copying ${t}`), `round ${round}: ${t} was complete and is not copied again`);
        }
        // Kill somewhere in the next 300 – 6,000 rows.
        const target = (atKill?.rows ?? 0) + 300 + Math.floor(random() * 5700);
        for (;;) {
          const p = await progressDoc();
          if ((p?.rows ?? 0) >= target) break;
          assert.ok(sdl.running, sdl.logs().slice(-3000));
          await sleep(20 + Math.floor(random() * 50));
        }
        await sdl.kill9();
        atKill = await progressDoc();
        assert.ok(atKill !== null && atKill.rows > 0, 'progress was checkpointed before the kill');
        assert.equal(await client.db('sdl').collection('offsets').countDocuments({ _id: 'killsnap' as never }), 0, 'no binlog checkpoint before the snapshot is complete');
      }
      const last = new SdlProcess(stack.scratch, stack, { pipeline: 'killsnap', include: 'killsnap', name: 'killsnap-final', env });
      last.start();
      try {
        await waitForLine(last, /^initial snapshot complete/);
        const updates = (await writer?.stop())?.update ?? 0;
        writer = undefined;
        await waitForCatchUp(stack, 'killsnap', 180_000, last);
        await assertMirrorsEqual(stack, ['killsnap']);
        assert.deepEqual(await eventCounts(stack, 'killsnap', 'a'), { r: 4000 });
        const b = await eventCounts(stack, 'killsnap', 'b');
        assert.deepEqual(b, { r: BULK_ROWS, update: updates }, 'one read per row and every update after the first view exactly once');
      } finally {
        assert.equal(await last.stop(), 0, last.logs().slice(-3000));
      }
    } finally {
      await writer?.stop();
      await writerConn.end();
      await conn.end();
    }
  });

  it('DDL during the snapshot: an ALTER of a table being copied does not wait for the snapshot, an online schema change\'s RENAME swap of tables not yet copied loses nothing; ends equal', async (t) => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE ddlsnap');
    // Copied in name order: `a` first, then the ghost `m_gho` and the table `t` it replaces.
    await bulkTable(conn, 'ddlsnap.a', 6000);
    await bulkTable(conn, 'ddlsnap.t', 2000);
    await conn.query('CREATE TABLE ddlsnap.m_gho LIKE ddlsnap.t');
    await conn.query('INSERT INTO ddlsnap.m_gho SELECT * FROM ddlsnap.t WHERE id <= 1000');
    const env = { SDL_SNAPSHOT_CHUNK_ROWS: '200' };
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'ddlsnap', include: 'ddlsnap', name: 'ddlsnap', env });
    sdl.start();
    const snapshots = client.db('sdl').collection<{ _id: string; rows: number; current: { table: string } | null }>('snapshots');
    try {
      for (;;) {
        const p = await snapshots.findOne({ _id: 'ddlsnap' });
        if (p?.current?.table === 'a' && p.rows >= 1000) break;
        assert.ok(sdl.running, sdl.logs().slice(-3000));
        await sleep(20);
      }
      // Before: the snapshot's one view held a metadata lock on every table it had read, so this
      // ALTER (and every write to `a` queued behind it) waited until the whole snapshot ended.
      await conn.query('ALTER TABLE ddlsnap.a ADD COLUMN c VARCHAR(10) NULL');
      assert.equal((await snapshots.findOne({ _id: 'ddlsnap' }))?.current?.table, 'a', 'the ALTER returned while `a` was still being copied');
      await conn.query("UPDATE ddlsnap.a SET c = 'set', v = v + 1 WHERE id IN (1, 5999)");
      // The ghost catches up and is swapped in, as gh-ost's cut-over does, before either is copied.
      await conn.query('INSERT INTO ddlsnap.m_gho SELECT * FROM ddlsnap.t WHERE id > 1000');
      await conn.query("UPDATE ddlsnap.m_gho SET note = 'ghost' WHERE id = 7");
      await conn.query('RENAME TABLE ddlsnap.t TO ddlsnap.t_old, ddlsnap.m_gho TO ddlsnap.t');
      await waitForLine(sdl, /^initial snapshot complete/);
      await waitForLine(sdl, /^ddlsnap\.t_old: renamed from ddlsnap\.t while the initial snapshot ran: copying it again online$/);
      await waitForCatchUp(stack, 'ddlsnap', 180_000, sdl);
      const copies = client.db('sdl').collection<{ done: boolean }>('snapshots');
      for (;;) {
        if ((await copies.countDocuments({ pipeline: 'ddlsnap', done: false })) === 0) break;
        assert.ok(sdl.running, sdl.logs().slice(-3000));
        await sleep(200);
      }
      await waitForCatchUp(stack, 'ddlsnap', 180_000, sdl);
      await assertMirrorsEqual(stack, ['ddlsnap']);
      assert.equal((await client.db('ddlsnap').collection('a').findOne({ _id: 5999 } as never))?.['c'], 'set');
      assert.equal(await client.db('ddlsnap').collection('m_gho').countDocuments({}), 0);
    } finally {
      for (const l of sdl.lines()) if (Number(l['level']) >= 40) t.diagnostic(`${new Date(Number(l['time'])).toISOString()} ${String(l['msg'])}`);
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
      await conn.end();
    }
  });

  it('a RENAME of the last table while it is copied, or one re-created with another key: the stream copies the renamed table under its new name and replays the re-created one; ends equal', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE rnlast');
    // Copied in name order: `k`, then `z` last, so no later chunk of another table comes after the RENAME.
    await bulkTable(conn, 'rnlast.k', 1200);
    await bulkTable(conn, 'rnlast.z', 3000);
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'rnlast', include: 'rnlast', name: 'rnlast', env: { SDL_SNAPSHOT_CHUNK_ROWS: '200' } });
    sdl.start();
    const snapshots = client.db('sdl').collection<{ _id: string; current: { table: string; rows: number } | null }>('snapshots');
    const deadline = Date.now() + 300_000;
    const copying = async (table: string): Promise<void> => {
      for (;;) {
        const p = await snapshots.findOne({ _id: 'rnlast' });
        if (p?.current?.table === table && p.current.rows >= 400) return;
        assert.ok(sdl.running && Date.now() < deadline, `waiting for the copy of ${table} (${JSON.stringify(p?.current)}):\n${sdl.logs().slice(-3000)}`);
        await sleep(20);
      }
    };
    try {
      // Its key was (id); the new one is (v, id): the copy of the old one stops, the stream has the new one whole.
      await copying('k');
      await conn.query('CREATE OR REPLACE TABLE rnlast.k (id INT NOT NULL, v INT NOT NULL, note VARCHAR(40), PRIMARY KEY (v, id))');
      await conn.query("INSERT INTO rnlast.k SELECT seq, seq % 7, 'after' FROM rnlast.seq_1_to_50");
      await copying('z');
      await conn.query('RENAME TABLE rnlast.z TO rnlast.z2');
      await waitForLine(sdl, /^initial snapshot complete/);
      await waitForLine(sdl, /^rnlast\.z2: renamed from rnlast\.z while the initial snapshot ran: copying it again online$/);
      const copies = client.db('sdl').collection<{ done: boolean }>('snapshots');
      for (;;) {
        if ((await copies.countDocuments({ pipeline: 'rnlast', done: false })) === 0) break;
        assert.ok(sdl.running && Date.now() < deadline, `online copies unfinished:\n${sdl.logs().slice(-3000)}`);
        await sleep(200);
      }
      await waitForCatchUp(stack, 'rnlast', 180_000, sdl);
      await assertMirrorsEqual(stack, ['rnlast']);
      assert.equal(await client.db('rnlast').collection('z2').countDocuments({}), 3000);
      assert.ok(sdl.lines().some((l) => /^snapshot: rnlast\.k has another key \(v, id\) than when its copy began \(id\)/.test(String(l['msg']))), sdl.logs().slice(-3000));
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
      await conn.end();
    }
  });

  it('SIGTERM during the snapshot: exits 0 after its current chunk without a binlog checkpoint; the next start resumes and ends equal', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE termsnap');
    await bulkTable(conn, 'termsnap.t', 6000);
    const env = { SDL_SNAPSHOT_CHUNK_ROWS: '200' };
    const first = new SdlProcess(stack.scratch, stack, { pipeline: 'termsnap', include: 'termsnap', name: 'termsnap-1', env });
    first.start();
    const snapshots = client.db('sdl').collection<{ _id: string; rows: number }>('snapshots');
    for (;;) {
      if (((await snapshots.findOne({ _id: 'termsnap' }))?.rows ?? 0) >= 1000) break;
      assert.ok(first.running, first.logs().slice(-3000));
      await sleep(20);
    }
    assert.equal(await first.stop(), 0, first.logs().slice(-3000));
    const saved = await snapshots.findOne({ _id: 'termsnap' });
    assert.ok(saved !== null && saved.rows >= 1000 && saved.rows < 6000, `stopped mid-snapshot (${saved?.rows ?? 0} rows)`);
    assert.equal(await client.db('sdl').collection('offsets').countDocuments({ _id: 'termsnap' as never }), 0, 'no binlog checkpoint for an unfinished snapshot');
    const status = new SdlProcess(stack.scratch, stack, { pipeline: 'termsnap', name: 'termsnap-status', command: 'status', args: ['--json'] });
    status.start();
    assert.equal(await status.exited(), 0);
    const shown = (JSON.parse(status.logs()) as { stored: { checkpoint: unknown; snapshot: { rows: number; current: { table: string } } } }).stored;
    assert.deepEqual([shown.checkpoint, shown.snapshot.rows, shown.snapshot.current.table], [null, saved.rows, 't'], 'sdl status shows the unfinished snapshot');
    const second = new SdlProcess(stack.scratch, stack, { pipeline: 'termsnap', include: 'termsnap', name: 'termsnap-2', env });
    second.start();
    try {
      await waitForLine(second, new RegExp(`^snapshot: resuming termsnap\\.t after ${saved.rows} rows$`));
      await waitForLine(second, /^initial snapshot complete/);
      await waitForCatchUp(stack, 'termsnap', 120_000, second);
      await assertMirrorsEqual(stack, ['termsnap']);
      assert.deepEqual(await eventCounts(stack, 'termsnap', 't'), { r: 6000 });
    } finally {
      assert.equal(await second.stop(), 0, second.logs().slice(-3000));
      await conn.end();
    }
  });

  it('a key with an ENUM column (ordered by index, compared as text) stops the snapshot loudly instead of paging it wrong', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query("CREATE DATABASE enumkey; CREATE TABLE enumkey.t (e ENUM('zz', 'aa') NOT NULL, n INT NOT NULL, PRIMARY KEY (e, n)); INSERT INTO enumkey.t VALUES ('zz', 1), ('aa', 1)");
    await conn.end();
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'enumkey', include: 'enumkey', name: 'enumkey', env: { SDL_SNAPSHOT_CHUNK_ROWS: '1' } });
    sdl.start();
    assert.equal(await sdl.exited(), 1, sdl.logs().slice(-3000));
    const fatal = sdl.lines().find((l) => l['level'] === 60);
    assert.match(String(fatal?.['msg']), /enumkey\.t\.e: the key contains a enum\('zz','aa'\) column/);
    assert.match(String(fatal?.['msg']), /mysql\.include/);
  });

  it('sdl snapshot: copies, saves the checkpoint at the view and exits 0; refuses (exit 2) once there is a checkpoint; sdl run streams from there', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE cmdsnap');
    await bulkTable(conn, 'cmdsnap.t', 3000);
    const snap = new SdlProcess(stack.scratch, stack, { pipeline: 'cmdsnap', include: 'cmdsnap', name: 'cmdsnap-1', command: 'snapshot' });
    snap.start();
    assert.equal(await snap.exited(), 0, snap.logs().slice(-3000));
    assert.ok(snap.lines().some((l) => l['msg'] === 'snapshot taken: `sdl run` streams from its position'));
    assert.equal(await client.db('sdl').collection('offsets').countDocuments({ _id: 'cmdsnap' as never }), 1, 'checkpoint saved');
    await assertMirrorsEqual(stack, ['cmdsnap']);
    const again = new SdlProcess(stack.scratch, stack, { pipeline: 'cmdsnap', include: 'cmdsnap', name: 'cmdsnap-2', command: 'snapshot' });
    again.start();
    assert.equal(await again.exited(), 2, again.logs().slice(-3000));
    assert.match(String(again.lines().find((l) => l['level'] === 60)?.['msg']), /already has a checkpoint.*--resnapshot/);
    await conn.query("UPDATE cmdsnap.t SET note = 'after' WHERE id = 5");
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'cmdsnap', include: 'cmdsnap', name: 'cmdsnap-3' });
    sdl.start();
    try {
      await waitForCatchUp(stack, 'cmdsnap', 120_000, sdl);
      await assertMirrorsEqual(stack, ['cmdsnap']);
      assert.deepEqual(await eventCounts(stack, 'cmdsnap', 't'), { r: 3000, update: 1 });
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
      await conn.end();
    }
  });

  it('binlog purged past the checkpoint: exits 1 naming --resnapshot; with it, re-copies and ends equal', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE resnap');
    await bulkTable(conn, 'resnap.t', 2000);
    // Tables the lost binlog drops: a plain name and an escaped one (`x-24y`).
    for (const t of ['gone', 'x$y']) await conn.query(`CREATE TABLE resnap.\`${t}\` (id INT PRIMARY KEY, v INT) SELECT seq AS id, seq AS v FROM resnap.seq_1_to_30`);
    const first = new SdlProcess(stack.scratch, stack, { pipeline: 'resnap', include: 'resnap', name: 'resnap-1' });
    first.start();
    await waitForCatchUp(stack, 'resnap', 120_000, first);
    assert.equal(await first.stop(), 0, first.logs().slice(-3000));
    const mongo = await MongoClient.connect(stack.mongo.url);
    const collections = async (): Promise<string[]> => (await mongo.db('resnap').listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
    assert.deepEqual(await collections(), ['gone', 't', 'x-24y']);
    // A user's own collection in the mirror database, named like a table: no `_sdl`, never touched.
    await mongo.db('resnap').collection<{ _id: number; text: string }>('notes').insertOne({ _id: 1, text: 'mine' });
    // Changes the stopped pipeline will never read: deletes leave documents only a re-snapshot removes.
    for (const t of ['gone', 'x$y']) await conn.query(`DROP TABLE resnap.\`${t}\``);
    await conn.query('DELETE FROM resnap.t WHERE id % 10 = 0');
    await conn.query("UPDATE resnap.t SET note = 'changed while purged', v = v + 1 WHERE id % 10 = 1");
    await conn.query("INSERT INTO resnap.t VALUES (50001, 1, 'new while purged', 1, NOW(6), NULL, 2)");
    await purgeBinlogs(conn);

    const refused = new SdlProcess(stack.scratch, stack, { pipeline: 'resnap', include: 'resnap', name: 'resnap-2' });
    refused.start();
    assert.equal(await refused.exited(), 1, refused.logs().slice(-3000));
    const fatal = refused.lines().find((l) => l['level'] === 60);
    assert.ok(fatal, 'one fatal line');
    assert.match(String(fatal['msg']), /no longer has the binlog/);
    assert.match(String(fatal['msg']), /sdl run --resnapshot/);

    const again = new SdlProcess(stack.scratch, stack, { pipeline: 'resnap', include: 'resnap', name: 'resnap-3', args: ['--resnapshot'] });
    again.start();
    try {
      await waitForLine(again, /^initial snapshot complete/);
      await conn.query("UPDATE resnap.t SET note = 'after the re-snapshot' WHERE id = 3");
      await waitForCatchUp(stack, 'resnap', 120_000, again);
      await assertMirrorsEqual(stack, ['resnap']);
      assert.ok(again.lines().some((l) => l['msg'] === 'snapshot: deleted 200 mirror documents of resnap.t whose rows no longer exist'), again.logs().slice(-3000));
      // Mirrors of the dropped tables go; the user's collection stays.
      assert.deepEqual(await collections(), ['notes', 't']);
      assert.ok(again.lines().some((l) => l['level'] === 40 && l['msg'] === 'snapshot: resnap.gone no longer exists in the source: its mirror resnap.gone is removed (dropped while the binlog that said so was lost)'), again.logs().slice(-3000));
      assert.deepEqual(await mongo.db('resnap').collection('notes').find().toArray(), [{ _id: 1, text: 'mine' }]);
    } finally {
      assert.equal(await again.stop(), 0, again.logs().slice(-3000));
      await conn.end();
      await mongo.close();
    }
  });
});
