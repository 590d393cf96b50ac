import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { streamWholeBinlog } from '../support/binlog.js';
import { sleep } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';

/**
 * Transaction shapes other than plain row-format commits, each written on the real server:
 * applied exactly, or a stop with exit 1 that names what, where and what to do.
 */
describe('binlog transaction shapes', () => {
  let stack: Stack;
  beforeEach(async () => {
    stack = await startStack();
  });
  afterEach(async () => {
    await stack?.stop();
  });

  it('XA: prepared rows survive a kill -9 between PREPARE and COMMIT and are applied once at the commit', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE xa; CREATE TABLE xa.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB; INSERT INTO xa.t VALUES (1, "one"), (2, "two")');
    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'xa');
    const first = new SdlProcess(stack.scratch, stack, { pipeline: 'xa', include: 'xa', name: 'xa-1' });
    first.start();
    await waitForCatchUp(stack, 'xa', 120_000, first);
    const [[beforePrepare]] = (await conn.query('SELECT @@gtid_binlog_pos AS pos')) as unknown as [{ pos: string }[]];

    // Each branch prepared on its own connection, which then goes away: MariaDB keeps it prepared.
    for (const sql of [
      "XA START 'p1'; INSERT INTO xa.t VALUES (10, 'p1'), (11, 'p1'); UPDATE xa.t SET v = 'p1' WHERE id = 1; XA END 'p1'; XA PREPARE 'p1'",
      "XA START 'p2'; INSERT INTO xa.t VALUES (20, 'rolled back'); XA END 'p2'; XA PREPARE 'p2'",
    ]) {
      const branch = await stack.mariadb.connect();
      await branch.query(sql);
      await branch.end();
    }
    // A later transaction from another connection commits while p1 is undecided.
    const other = await stack.mariadb.connect();
    await other.query("INSERT INTO xa.t VALUES (3, 'after prepare')");
    await waitForEvents(stack, 'xa', 't', { insert: 3 }, first);
    const held = await checkpointGtid(stack, 'xa');
    assert.equal(held, beforePrepare?.pos, 'the checkpoint stays before the undecided PREPARE');
    await first.kill9();

    await other.query("XA COMMIT 'p1'");
    await other.query("XA ROLLBACK 'p2'");
    await other.query("XA START 'p3'; INSERT INTO xa.t VALUES (30, 'one phase'); XA END 'p3'; XA COMMIT 'p3' ONE PHASE");
    const second = new SdlProcess(stack.scratch, stack, { pipeline: 'xa', include: 'xa', name: 'xa-2' });
    second.start();
    try {
      await waitForCatchUp(stack, 'xa', 60_000, second).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${second.logs().slice(-6000)}`);
      });
      await assertMirrorsEqual(stack, ['xa']);
      // 2 initial + 3 (after prepare) + 10, 11 (p1) + 30 (p3); p2 never applied; each once.
      assert.deepEqual(await eventCounts(stack, 'xa', 't'), { insert: 6, update: 1 });
    } finally {
      assert.equal(await second.stop(), 0, second.logs().slice(-3000));
      await Promise.all([conn.end(), other.end()]);
    }
  });

  it('statement-format DML: excluded tables pass, an included table stops with STATEMENT_FORMAT_DML', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE st; CREATE DATABASE other; CREATE TABLE st.t (id INT PRIMARY KEY, v INT); CREATE TABLE other.e (id INT PRIMARY KEY, v INT); INSERT INTO st.t VALUES (1, 1)');
    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'st');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'st', include: 'st', name: 'st' });
    sdl.start();
    const stmt = await stack.mariadb.connect();
    await stmt.query('SET SESSION binlog_format = STATEMENT');
    await stmt.query('INSERT INTO other.e VALUES (1, 1), (2, 2); UPDATE other.e SET v = v + 1; REPLACE INTO other.e VALUES (3, 3); SET @x = 7; INSERT INTO other.e VALUES (4, @x), (5, FLOOR(RAND() * 10)); BEGIN; DELETE FROM other.e WHERE id = 1; COMMIT');
    await conn.query('INSERT INTO st.t VALUES (2, 2)');
    await waitForCatchUp(stack, 'st', 120_000, sdl);
    await assertMirrorsEqual(stack, ['st']);
    const [[pos]] = (await conn.query('SELECT @@gtid_binlog_pos AS pos')) as unknown as [{ pos: string }[]];
    await stmt.query('UPDATE st.t SET v = 10 WHERE id = 1');
    await assertStops(sdl, 'STATEMENT_FORMAT_DML', ['st.t', 'UPDATE st.t SET v = 10', 'binlog.', nextGtid(pos?.pos), '`st.t`', 'sdl run --resnapshot', 'binlog_format=ROW']);
    assert.equal(await checkpointGtid(stack, 'st'), pos?.pos, 'the checkpoint did not pass the statement');
    await Promise.all([conn.end(), stmt.end()]);
  });

  it('a multi-table statement-format DELETE stops even on excluded tables: its targets cannot be read', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE mt; CREATE DATABASE other; CREATE TABLE mt.t (id INT PRIMARY KEY); CREATE TABLE other.a (id INT PRIMARY KEY); CREATE TABLE other.b (id INT PRIMARY KEY); INSERT INTO other.a VALUES (1), (2); INSERT INTO other.b VALUES (1)');
    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'mt');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'mt', include: 'mt', name: 'mt' });
    sdl.start();
    await waitForCatchUp(stack, 'mt', 120_000, sdl);
    await conn.query('SET SESSION binlog_format = STATEMENT; DELETE other.a FROM other.a JOIN other.b ON other.a.id = other.b.id');
    await assertStops(sdl, 'STATEMENT_FORMAT_DML', ['cannot determine', 'DELETE other.a FROM', 'binlog.']);
    await conn.end();
  });

  it('LOAD DATA logged as a statement stops with STATEMENT_FORMAT_DML', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE ld; CREATE TABLE ld.t (id INT PRIMARY KEY, v VARCHAR(10))');
    const file = stack.scratch.path('rows.tsv');
    writeFileSync(file, '1\tone\n2\ttwo\n');
    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'ld');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'ld', include: 'ld', name: 'ld' });
    sdl.start();
    await waitForCatchUp(stack, 'ld', 120_000, sdl);
    await conn.query(`SET SESSION binlog_format = STATEMENT; LOAD DATA INFILE ${conn.escape(file)} INTO TABLE ld.t`);
    await assertStops(sdl, 'STATEMENT_FORMAT_DML', ['LOAD DATA', 'binlog.', 'binlog_format=ROW']);
    await conn.end();
  });

  it('partial row images (MINIMAL, NOBLOB) stop with PARTIAL_ROW_IMAGE on included tables only', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE pi; CREATE DATABASE other; CREATE TABLE pi.t (id INT PRIMARY KEY, v VARCHAR(10), b BLOB); CREATE TABLE other.e (id INT PRIMARY KEY, v INT, b BLOB); INSERT INTO pi.t VALUES (1, "a", "x"); INSERT INTO other.e VALUES (1, 1, "x")');
    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'pi');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'pi', include: 'pi', name: 'pi' });
    sdl.start();
    await conn.query('SET SESSION binlog_row_image = MINIMAL; UPDATE other.e SET v = 2; SET SESSION binlog_row_image = FULL; INSERT INTO pi.t VALUES (2, "b", "y")');
    await waitForCatchUp(stack, 'pi', 120_000, sdl);
    await assertMirrorsEqual(stack, ['pi']);
    await conn.query('SET SESSION binlog_row_image = NOBLOB; UPDATE pi.t SET v = "c" WHERE id = 1');
    await assertStops(sdl, 'PARTIAL_ROW_IMAGE', ['pi.t', 'columns b', 'binlog.', '`pi.t`', 'sdl run --resnapshot', 'binlog_row_image=FULL']);
    await conn.end();
  });

  it('rollbacks with a non-transactional table: kept rows applied, undone rows not, unknowable ones stop', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE nt; CREATE DATABASE other;
      CREATE TABLE nt.i (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB;
      CREATE TABLE nt.m (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=MyISAM;
      CREATE TABLE nt.a (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=Aria;
      CREATE TABLE nt.log (n INT AUTO_INCREMENT PRIMARY KEY, id INT) ENGINE=MyISAM;
      CREATE TRIGGER nt.ti AFTER INSERT ON nt.i FOR EACH ROW INSERT INTO nt.log (id) VALUES (NEW.id);
      CREATE TABLE other.i (id INT PRIMARY KEY) ENGINE=InnoDB;
      CREATE TABLE other.log (id INT) ENGINE=MyISAM;
      CREATE TRIGGER other.ti AFTER INSERT ON other.i FOR EACH ROW INSERT INTO other.log VALUES (NEW.id)`);
    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'nt');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'nt', include: 'nt', name: 'nt' });
    sdl.start();
    // InnoDB + MyISAM + Aria, then ROLLBACK: the MyISAM and Aria rows stay (each logged as its own group).
    await conn.query("BEGIN; INSERT INTO nt.i VALUES (1, 'undone'); INSERT INTO nt.m VALUES (1, 'kept'); INSERT INTO nt.a VALUES (1, 'kept'); ROLLBACK");
    // A savepoint in a transaction that also wrote MyISAM (the trigger): MariaDB logs SAVEPOINT
    // and ROLLBACK TO with the undone row 51 between them.
    await conn.query("BEGIN; INSERT INTO nt.i VALUES (50, 'kept'); SAVEPOINT s1; INSERT INTO nt.i VALUES (51, 'undone'); ROLLBACK TO SAVEPOINT s1; INSERT INTO nt.i VALUES (52, 'kept'); COMMIT");
    await waitForCatchUp(stack, 'nt', 120_000, sdl);
    await assertMirrorsEqual(stack, ['nt']);
    assert.deepEqual(await eventCounts(stack, 'nt', 'i'), { insert: 2 });
    assert.deepEqual(await eventCounts(stack, 'nt', 'log'), { insert: 4 });
    // An XA branch rolled back after XA END that touched MyISAM through a trigger: logged as
    // its InnoDB rows followed by a ROLLBACK query. On excluded tables it must only move the
    // checkpoint, also when it is the last group in the binlog.
    await conn.query("XA START 'r1'; INSERT INTO other.i VALUES (1); XA END 'r1'; XA ROLLBACK 'r1'");
    await waitForCatchUp(stack, 'nt', 30_000, sdl);
    // The same shape on an included table: the binlog cannot say which rows stayed.
    await conn.query("XA START 'r2'; INSERT INTO nt.i VALUES (60, 'undone'); XA END 'r2'; XA ROLLBACK 'r2'");
    await assertStops(sdl, 'UNSUPPORTED_EVENT', ['rolled-back', 'nt.i', 'binlog.', '`nt.i`', 'sdl run --resnapshot', 'InnoDB']);
    await conn.end();
  });
});

/** The sdl child exits 1 within a while with one fatal line carrying the code and every mention. */
async function assertStops(sdl: SdlProcess, code: string, mentions: string[]): Promise<void> {
  const exit = await Promise.race([sdl.exited(), sleep(60_000).then(() => 'still running' as const)]);
  if (exit === 'still running') await sdl.stop();
  assert.equal(exit, 1, `expected exit 1 (${code}); log:\n${sdl.logs().slice(-3000)}`);
  const fatal = sdl.lines().find((l) => l['level'] === 60);
  assert.ok(fatal, 'one fatal line');
  const text = JSON.stringify(fatal);
  assert.ok(text.includes(`"code":"${code}"`), text);
  for (const m of mentions) assert.ok(text.includes(m), `fatal line lacks ${m}: ${text}`);
}

async function checkpointGtid(stack: Stack, pipeline: string): Promise<string | null | undefined> {
  const client = new MongoClient(stack.mongo.url);
  try {
    return (await client.db('sdl').collection<{ _id: string; gtid: string | null }>('offsets').findOne({ _id: pipeline }))?.gtid;
  } finally {
    await client.close();
  }
}

async function waitForEvents(stack: Stack, db: string, table: string, want: Record<string, number>, sdl: SdlProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const got = await eventCounts(stack, db, table);
    if (Object.entries(want).every(([op, n]) => (got[op] ?? 0) >= n)) return;
    if (!sdl.running) throw new Error(`sdl exited:\n${sdl.logs().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`event log has ${JSON.stringify(got)}, wanted ${JSON.stringify(want)}`);
    await sleep(200);
  }
}

/** The GTID the next transaction of a single-domain server gets. */
function nextGtid(pos: string | undefined): string {
  const m = /^(\d+-\d+-)(\d+)$/.exec(pos ?? '');
  assert.ok(m?.[1] !== undefined && m[2] !== undefined, `single-domain GTID position expected, got ${pos ?? 'none'}`);
  return `${m[1]}${Number(m[2]) + 1}`;
}
