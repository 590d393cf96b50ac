import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import { streamWholeBinlog } from '../support/binlog.js';
import { sleep } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';

/**
 * Transactions over the slice threshold whose rows do not all commit: a ROLLBACK TO SAVEPOINT
 * inside one, and one that ends in ROLLBACK. Both write a MyISAM table too, the only way MariaDB
 * logs either (see test/fault/event-shapes.test.ts). The budget and batch limits of
 * huge-transaction.test.ts: slices of about 64 KiB, some 70 rows of ~1 KB held.
 */
const CONFIG = { maxInFlightBytes: 1024 * 1024, batch: { maxRows: 100, maxBytes: 64 * 1024, maxDelayMs: 100 } };

/** Inserts rows `from`..`to` into `table` (id, note), 200 a statement. */
async function insertRows(conn: Connection, table: string, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i += 200) {
    const ids = Array.from({ length: Math.min(200, to + 1 - i) }, (_, k) => i + k);
    await conn.query(`INSERT INTO ${table} VALUES ${ids.map(() => '(?,?)').join(',')}`, ids.flatMap((id) => [id, `row ${id} `.padEnd(150, 'x')]));
  }
}

describe('streamed transactions that do not commit all their rows', () => {
  let stack: Stack;
  let conn: Connection;
  let client: MongoClient;
  let config: string;
  before(async () => {
    stack = await startStack();
    conn = await stack.mariadb.connect();
    client = new MongoClient(stack.mongo.url);
    config = stack.scratch.path('streamed.json');
    writeFileSync(config, JSON.stringify(CONFIG));
  });
  after(async () => {
    await conn?.end();
    await client?.close();
    await stack?.stop();
  });

  const sdl = (pipeline: string, name: string, fault?: string): SdlProcess => new SdlProcess(stack.scratch, stack, {
    pipeline, include: pipeline === 'rb' ? 'rb.t' : pipeline, name, args: ['--config', config], ...(fault === undefined ? {} : { env: { SDL_FAULT: fault } }),
  });
  const staged = (pipeline: string, status: string): Promise<number> => client.db('sdl').collection('row_changes_staging').countDocuments({ pipeline, status, part: 0 });

  /** Binlog query events of the source whose text matches. */
  async function loggedQueries(text: RegExp): Promise<number> {
    const [logs] = await conn.query('SHOW BINARY LOGS');
    let n = 0;
    for (const { Log_name: file } of logs as { Log_name: string }[]) {
      const [events] = await conn.query(`SHOW BINLOG EVENTS IN '${file}'`);
      n += (events as { Event_type: string; Info: string }[]).filter((e) => e.Event_type === 'Query' && text.test(e.Info)).length;
    }
    return n;
  }

  it('ROLLBACK TO SAVEPOINT inside a streamed transaction: slices stop at the savepoint, undone rows never land, through kill -9 while it is open', async () => {
    await conn.query(`CREATE DATABASE sp; CREATE TABLE sp.t (id INT PRIMARY KEY, note VARCHAR(200)) ENGINE=InnoDB;
      CREATE TABLE sp.m (id INT PRIMARY KEY) ENGINE=MyISAM`);
    await streamWholeBinlog(stack, 'sp');
    // 600 rows (some 8 slices), a savepoint, 600 rows undone by ROLLBACK TO, 600 more rows.
    await conn.query('START TRANSACTION');
    await insertRows(conn, 'sp.t', 1, 600);
    await conn.query('SAVEPOINT s1');
    await insertRows(conn, 'sp.t', 601, 1200);
    await conn.query('INSERT INTO sp.m VALUES (1)');
    await conn.query('ROLLBACK TO SAVEPOINT s1');
    await insertRows(conn, 'sp.t', 1201, 1800);
    await conn.query('COMMIT');
    assert.equal(await loggedQueries(/^ROLLBACK TO/), 1, 'MariaDB logged the ROLLBACK TO (it does only with a non-transactional write)');

    const first = sdl('sp', 'sp-0', 'after-stage-open@3');
    first.start();
    assert.equal(await first.exited(), 137, first.logs().slice(-3000));
    assert.equal(await staged('sp', 'open'), 3, 'three slices staged open before the kill');
    assert.equal(await client.db('sp').collection('t').countDocuments(), 0, 'nothing of the open transaction applied');

    const last = sdl('sp', 'sp-final');
    last.start();
    await last.leaseAcquired();
    await waitForCatchUp(stack, 'sp', 300_000, last);
    assert.equal(await last.stop(), 0, last.logs().slice(-3000));
    await assertMirrorsEqual(stack, ['sp']);
    assert.deepEqual(await eventCounts(stack, 'sp', 't'), { insert: 1200 });
    assert.deepEqual(await eventCounts(stack, 'sp', 'm'), { insert: 1 });
    assert.equal(await staged('sp', 'open') + await staged('sp', 'pending'), 0);
  });

  it('an XA branch over the slice threshold is held whole (MariaDB flags it only in its GTID event) and replicates exactly at its XA COMMIT', async () => {
    await conn.query('CREATE DATABASE xb; CREATE TABLE xb.t (id INT PRIMARY KEY, note VARCHAR(200)) ENGINE=InnoDB');
    await streamWholeBinlog(stack, 'xb');
    await conn.query("XA START 'big'");
    await insertRows(conn, 'xb.t', 1, 1500);
    await conn.query("XA END 'big'");
    await conn.query("XA PREPARE 'big'");
    await conn.query("XA COMMIT 'big'");
    const run = sdl('xb', 'xb');
    run.start();
    await run.leaseAcquired();
    await waitForCatchUp(stack, 'xb', 300_000, run);
    assert.equal(await run.stop(), 0, run.logs().slice(-3000));
    await assertMirrorsEqual(stack, ['xb']);
    assert.deepEqual(await eventCounts(stack, 'xb', 't'), { insert: 1500 });
    assert.equal(await client.db('sdl').collection('row_changes_staging').countDocuments({ pipeline: 'xb', status: 'open' }), 0, 'nothing of it was staged as an open slice');
  });

  it('a streamed mixed transaction that ends in ROLLBACK: none of its slices is applied, through kill -9 while it is open, and sdl stops naming it', async () => {
    // An XA branch rolled back after XA END whose rows also wrote MyISAM (a trigger): MariaDB logs
    // its InnoDB rows, then ROLLBACK (no XA START), so sdl reads them as an ordinary open group.
    await conn.query(`CREATE DATABASE rb; CREATE TABLE rb.t (id INT PRIMARY KEY, note VARCHAR(200)) ENGINE=InnoDB;
      CREATE TABLE rb.log (n INT AUTO_INCREMENT PRIMARY KEY, id INT) ENGINE=MyISAM;
      CREATE TRIGGER rb.ti AFTER INSERT ON rb.t FOR EACH ROW INSERT INTO rb.log (id) VALUES (NEW.id);
      INSERT INTO rb.t VALUES (0, 'before')`);
    await streamWholeBinlog(stack, 'rb');
    await conn.query("XA START 'big'");
    await insertRows(conn, 'rb.t', 1, 1500);
    await conn.query("XA END 'big'");
    await conn.query("XA ROLLBACK 'big'");
    assert.equal(await loggedQueries(/^ROLLBACK$/), 1, 'MariaDB logged the rows and a ROLLBACK');

    // Killed while the transaction is open in sdl: slices staged, nothing applied.
    const first = sdl('rb', 'rb-0', 'after-stage-open@4');
    first.start();
    assert.equal(await first.exited(), 137, first.logs().slice(-3000));
    assert.equal(await staged('rb', 'open'), 4);
    assert.deepEqual(await eventCounts(stack, 'rb', 't'), { insert: 1 });

    // The next start deletes those slices, reads the transaction again, and stops at its ROLLBACK.
    const second = sdl('rb', 'rb-1');
    second.start();
    const exit = await Promise.race([second.exited(), sleep(120_000).then(() => 'still running' as const)]);
    if (exit === 'still running') await second.stop();
    assert.equal(exit, 1, second.logs().slice(-3000));
    const fatal = JSON.stringify(second.lines().find((l) => l['level'] === 60));
    for (const m of ['"code":"UNSUPPORTED_EVENT"', 'rolled-back', 'logged 1500 row changes on rb.t']) assert.ok(fatal.includes(m), `fatal line lacks ${m}: ${fatal}`);
    // MariaDB kept only row 0 in rb.t: so does its mirror and the event log.
    await assertMirrorsEqual(stack, ['rb.t']);
    assert.deepEqual(await eventCounts(stack, 'rb', 't'), { insert: 1 });
    assert.equal(await staged('rb', 'pending'), 0, 'no slice of it was ever committed');
  });
});
