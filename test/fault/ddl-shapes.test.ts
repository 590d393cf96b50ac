import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Binary, MongoClient, type Document } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import { streamWholeBinlog } from '../support/binlog.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';

async function collections(stack: Stack, db: string): Promise<string[]> {
  const client = new MongoClient(stack.mongo.url);
  try {
    return (await client.db(db).listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  } finally {
    await client.close();
  }
}

async function history(stack: Stack): Promise<Document[]> {
  const client = new MongoClient(stack.mongo.url);
  try {
    return await client.db('sdl').collection('schema_history').find({}).toArray();
  } finally {
    await client.close();
  }
}

/** The exit code, or a failure (after stopping it) when sdl is still running after `ms`. */
async function exitWithin(sdl: SdlProcess, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  const code = await Promise.race([sdl.exited(), late]);
  clearTimeout(timer);
  if (code !== 'late') return code;
  await sdl.stop();
  assert.fail(`sdl did not stop within ${ms} ms:
${sdl.logs().slice(-2000)}`);
}

/** Runs sdl over `steps`, then expects it caught up with every mirror equal to MySQL. */
async function replicate(stack: Stack, pipeline: string, include: string, steps: (conn: Connection) => Promise<void>): Promise<SdlProcess> {
  // These tests are about the binlog: stream it, not an initial snapshot.
  await streamWholeBinlog(stack, pipeline);
  const sdl = new SdlProcess(stack.scratch, stack, { pipeline, include, name: pipeline });
  sdl.start();
  const conn = await stack.mariadb.connect();
  try {
    await steps(conn);
    await waitForCatchUp(stack, pipeline, 120_000, sdl);
    await assertMirrorsEqual(stack, include.split(','));
  } finally {
    assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    await conn.end();
  }
  return sdl;
}

describe('DDL shapes: applied exactly or a loud stop', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE other');
    await conn.end();
  });
  after(async () => {
    await stack?.stop();
  });

  it('CREATE TABLE … SELECT and CREATE OR REPLACE TABLE (with and without SELECT) over a table with rows', async () => {
    await replicate(stack, 'cs', 'cs', async (conn) => {
      await conn.query(`CREATE DATABASE cs;
        CREATE TABLE cs.src (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO cs.src VALUES (1, 'a'), (2, 'b'), (3, 'c');
        CREATE TABLE cs.sel (PRIMARY KEY (id)) SELECT * FROM cs.src;
        CREATE TABLE cs.r (id INT PRIMARY KEY, v INT); INSERT INTO cs.r VALUES (1, 1), (2, 2);
        CREATE OR REPLACE TABLE cs.r (id INT PRIMARY KEY, w INT); INSERT INTO cs.r VALUES (7, 70);
        CREATE TABLE cs.rs (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO cs.rs VALUES (9, 'old');
        CREATE OR REPLACE TABLE cs.rs (PRIMARY KEY (id)) SELECT * FROM cs.src WHERE id < 3`);
    });
    assert.deepEqual(await collections(stack, 'cs'), ['r', 'rs', 'sel', 'src']);
    assert.deepEqual(await eventCounts(stack, 'cs', 'sel'), { insert: 3 });
    assert.deepEqual(await eventCounts(stack, 'cs', 'rs'), { insert: 3 });
    const actions = (await history(stack)).map((h) => `${String(h['action'])} ${String(h['statement'])}`);
    for (const want of ['create CREATE TABLE `cs`.`sel`', 'replace CREATE OR REPLACE TABLE cs.r ', 'replace CREATE OR REPLACE TABLE `cs`.`rs`']) {
      assert.ok(actions.some((a) => a.startsWith(want)), `schema_history lacks "${want}": ${JSON.stringify(actions)}`);
    }
  });

  it('TRUNCATE, RENAME chains, DROP of several tables and ALTER from a session whose default database is another one or none', async () => {
    await replicate(stack, 'od', 'od', async (conn) => {
      await conn.query(`CREATE DATABASE od;
        CREATE TABLE od.t (id INT PRIMARY KEY); INSERT INTO od.t VALUES (1), (2);
        CREATE TABLE od.d1 (id INT PRIMARY KEY); CREATE TABLE od.d2 (id INT PRIMARY KEY); INSERT INTO od.d1 VALUES (1); INSERT INTO od.d2 VALUES (1);
        CREATE TABLE od.x (id INT PRIMARY KEY, tag CHAR(1)); INSERT INTO od.x VALUES (1, 'x');
        CREATE TABLE od.y (id INT PRIMARY KEY, tag CHAR(1)); INSERT INTO od.y VALUES (1, 'y');
        CREATE TABLE od.al (id INT PRIMARY KEY, keep INT, gone INT, old INT); INSERT INTO od.al VALUES (1, 1, 1, 1), (2, 2, 2, 2)`);
      await conn.query(`USE other; TRUNCATE od.t; INSERT INTO od.t VALUES (5);
        RENAME TABLE od.x TO od.tmp, od.y TO od.x, od.tmp TO od.y;
        ALTER TABLE od.al DROP COLUMN gone, RENAME COLUMN old TO neu, ADD COLUMN extra INT`);
      const bare = await stack.mariadb.connect();
      try {
        await bare.query('DROP TABLE od.d1, od.d2');
      } finally {
        await bare.end();
      }
    });
    assert.deepEqual(await collections(stack, 'od'), ['al', 't', 'x', 'y']);
    const actions = (await history(stack)).map((h) => `${String(h['action'])} ${String(h['statement'])}`);
    for (const want of ['truncate TRUNCATE od.t', 'drop DROP TABLE `od`.`d1`,`od`.`d2`', 'rename RENAME TABLE od.x TO od.tmp', 'alter ALTER TABLE od.al DROP COLUMN']) {
      assert.ok(actions.some((a) => a.startsWith(want)), `schema_history lacks "${want}": ${JSON.stringify(actions)}`);
    }
  });

  it('DROP DATABASE drops every mirror of that database', async () => {
    await replicate(stack, 'gone', 'gone', async (conn) => {
      await conn.query(`CREATE DATABASE gone; CREATE TABLE gone.a (id INT PRIMARY KEY); CREATE TABLE gone.b (id INT PRIMARY KEY);
        INSERT INTO gone.a VALUES (1); INSERT INTO gone.b VALUES (1); USE other; DROP DATABASE gone`);
    });
    assert.deepEqual(await collections(stack, 'gone'), []);
    assert.ok((await history(stack)).some((h) => h['action'] === 'drop-database' && h['statement'] === 'DROP DATABASE gone'));
  });

  it('a JSON column added mid-stream (its DDL inside a GTID group) is stored as a document', async () => {
    await replicate(stack, 'jm', 'jm', async (c) => {
      await c.query(`CREATE DATABASE jm; CREATE TABLE jm.t (id INT PRIMARY KEY, s TEXT); INSERT INTO jm.t VALUES (1, 'one')`);
      // sdl has now looked up (and cached) the table's json_valid checks: none.
      await waitForCatchUp(stack, 'jm', 120_000);
      await c.query(`ALTER TABLE jm.t ADD COLUMN j LONGTEXT CHECK (json_valid(j)); INSERT INTO jm.t VALUES (2, 'two', '{"k":[1,2],"n":{"m":true}}')`);
    });
    const client = new MongoClient(stack.mongo.url);
    try {
      const doc = await client.db('jm').collection('t').findOne({ _id: 2 } as Document);
      assert.deepEqual(doc?.['j'], { k: [1, 2], n: { m: true } });
    } finally {
      await client.close();
    }
  });

  it('backlog rows are typed by the schema at their position, not by today\'s json_valid checks', async () => {
    const conn = await stack.mariadb.connect();
    // Written before sdl starts; b was binary when row 1 was inserted.
    await conn.query(`CREATE DATABASE jb; CREATE TABLE jb.b (id INT PRIMARY KEY, b VARBINARY(50));
      INSERT INTO jb.b VALUES (1, '{"a":1}');
      ALTER TABLE jb.b MODIFY b LONGTEXT CHECK (json_valid(b));
      INSERT INTO jb.b VALUES (2, '[1,2]'); UPDATE jb.b SET b = '{"a":2}' WHERE id = 1`);
    await conn.end();
    const sdl = await replicate(stack, 'jb', 'jb', () => Promise.resolve());
    const client = new MongoClient(stack.mongo.url);
    try {
      const first = await client.db('sdl').collection('row_changes').findOne({ db: 'jb', table: 'b', op: 'insert' }, { sort: { seq: 1 } });
      assert.ok((first?.['after'] as Document | undefined)?.['b'] instanceof Binary, 'the backlog row is typed by the schema at its position');
    } finally {
      await client.close();
    }
    // The MODIFY starts an online re-snapshot of jb.b: its `r` reads are not changes.
    assert.deepEqual(await eventCounts(stack, 'jb', 'b', { reads: false }), { insert: 2, update: 1 });
    assert.ok(sdl.lines().some((l) => l['level'] === 40 && String(l['msg']).includes('jb.b: MODIFY b')), 'a warning names the table whose stored rows changed without row events');
  });

  it('JSON columns of tables renamed, dropped or re-created while sdl was killed are typed as at their rows\' positions', async () => {
    const conn = await stack.mariadb.connect();
    const start = (): SdlProcess => {
      const p = new SdlProcess(stack.scratch, stack, { pipeline: 'jr', include: 'jr', name: 'jr' });
      p.start();
      return p;
    };
    let sdl: SdlProcess | undefined;
    try {
      await conn.query(`CREATE DATABASE jr; CREATE TABLE jr.t (id INT PRIMARY KEY, j JSON, s LONGTEXT); CREATE TABLE jr.d (id INT PRIMARY KEY, j JSON);
        INSERT INTO jr.t VALUES (1, '{"a":1}', '{"s":1}'); INSERT INTO jr.d VALUES (1, '[1]')`);
      // A new pipeline: the initial snapshot saves which columns are JSON with its checkpoint.
      sdl = start();
      await waitForCatchUp(stack, 'jr', 120_000, sdl);
      await sdl.kill9();
      // While sdl is down every table it will read rows of changes name or shape.
      await conn.query(`INSERT INTO jr.t VALUES (2, '{"a":2}', '{"s":2}'); INSERT INTO jr.d VALUES (2, '{"d":2}');
        CREATE TABLE jr.n (id INT PRIMARY KEY, J LONGTEXT CHECK (json_valid(j))); INSERT INTO jr.n VALUES (1, '{"n":1}');
        RENAME TABLE jr.t TO jr.u, jr.n TO jr.n2; DROP TABLE jr.d;
        CREATE TABLE jr.d (id INT PRIMARY KEY, j LONGTEXT); INSERT INTO jr.d VALUES (3, '{"not":"json"}');
        INSERT INTO jr.u VALUES (3, '{"a":3}', '{"s":3}')`);
      sdl = start();
      await waitForCatchUp(stack, 'jr', 120_000, sdl);
      await assertMirrorsEqual(stack, ['jr']);
    } finally {
      await conn.end();
      if (sdl !== undefined) assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    }
    const client = new MongoClient(stack.mongo.url);
    try {
      const after = async (table: string, id: number): Promise<Document | undefined> =>
        (await client.db('sdl').collection('row_changes').findOne({ db: 'jr', table, op: 'insert', 'after.id': id }))?.['after'] as Document | undefined;
      assert.deepEqual((await after('t', 2))?.['j'], { a: 2 }, 'a row of jr.t written before its rename is JSON');
      assert.equal((await after('t', 2))?.['s'], '{"s":2}', 'a LONGTEXT without the check stays text');
      assert.deepEqual((await after('d', 2))?.['j'], { d: 2 }, 'a row of a table dropped since is JSON');
      assert.deepEqual((await after('n', 1))?.['J'], { n: 1 }, 'a table created and renamed while sdl was down is typed by its CREATE');
      assert.equal((await after('d', 3))?.['j'], '{"not":"json"}', 'the re-created table has no JSON column');
      assert.deepEqual((await after('u', 3))?.['j'], { a: 3 });
    } finally {
      await client.close();
    }
  });

  it('rows of a table sdl could not follow and that no longer exists stop it with SCHEMA_UNKNOWN instead of guessing JSON or text', async () => {
    const conn = await stack.mariadb.connect();
    // IF NOT EXISTS may have kept an older table: sdl cannot read the columns from the statement.
    await conn.query(`CREATE DATABASE jq; CREATE TABLE IF NOT EXISTS jq.t (id INT PRIMARY KEY, j JSON, v VARCHAR(10));
      INSERT INTO jq.t VALUES (1, '{"a":1}', 'x'); DROP TABLE jq.t`);
    await conn.end();
    await streamWholeBinlog(stack, 'jq');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'jq', include: 'jq', name: 'jq' });
    sdl.start();
    assert.equal(await exitWithin(sdl, 90_000), 1, sdl.logs().slice(-3000));
    assert.match(sdl.logs(), /SCHEMA_UNKNOWN.*columns j of jq\.t/);
  });

  it('an ALTER that changes the primary key of an included table stops with exit 1 and PRIMARY_KEY_CHANGED', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE pk; CREATE TABLE pk.t (id INT PRIMARY KEY, v VARCHAR(10) NOT NULL); INSERT INTO pk.t VALUES (1, 'a');
      USE other; ALTER TABLE pk.t DROP PRIMARY KEY, ADD PRIMARY KEY (v); INSERT INTO pk.t VALUES (2, 'b')`);
    await conn.end();
    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'pk');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'pk', include: 'pk', name: 'pk' });
    sdl.start();
    assert.equal(await exitWithin(sdl, 90_000), 1, sdl.logs().slice(-3000));
    assert.match(sdl.logs(), /PRIMARY_KEY_CHANGED/);
    assert.match(sdl.logs(), /binlog\.\d+:\d+ \(GTID 0-1-\d+\)/);
    assert.match(sdl.logs(), /re-snapshot `pk\.t`: .*sdl run --resnapshot/);
  });

  it('a unique key that becomes the key of a table without a primary key stops sdl when its next rows arrive', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query('CREATE DATABASE uk; CREATE TABLE uk.t (a INT NOT NULL, b INT NOT NULL, UNIQUE KEY ua (a)); INSERT INTO uk.t VALUES (1, 1)');
    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'uk');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'uk', include: 'uk', name: 'uk' });
    sdl.start();
    try {
      await waitForCatchUp(stack, 'uk', 120_000, sdl);
      // No PRIMARY in the text and no key column touched: only the TableMaps tell (MariaDB names the unique key as the key).
      await conn.query('ALTER TABLE uk.t DROP INDEX ua, ADD UNIQUE KEY ub (b); INSERT INTO uk.t VALUES (2, 2)');
    } finally {
      await conn.end();
    }
    assert.equal(await exitWithin(sdl, 90_000), 1, sdl.logs().slice(-3000));
    assert.match(sdl.logs(), /PRIMARY_KEY_CHANGED.*the key of uk\.t changed from \(a\) to \(b\)/);
  });
});

describe('DDL with lower_case_table_names=1', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ mariadb: { extraArgs: ['--lower-case-table-names=1'] } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('mixed-case DDL text reaches the lower-case mirrors', async () => {
    await replicate(stack, 'lc', 'mixed', async (conn) => {
      await conn.query(`CREATE DATABASE Mixed; CREATE TABLE Mixed.T (id INT PRIMARY KEY, Note INT); INSERT INTO Mixed.T VALUES (1, 1), (2, 2);
        CREATE TABLE Mixed.Gone (id INT PRIMARY KEY); INSERT INTO MIXED.GONE VALUES (1);
        CREATE TABLE Mixed.A (id INT PRIMARY KEY); INSERT INTO Mixed.A VALUES (1);
        TRUNCATE TABLE MIXED.t; INSERT INTO Mixed.T VALUES (3, 3); DROP TABLE mixed.GONE; RENAME TABLE Mixed.A TO Mixed.B;
        ALTER TABLE MIXED.t DROP COLUMN NOTE`);
    });
    assert.deepEqual(await collections(stack, 'mixed'), ['b', 't']);
  });

  it('a partition drop on a table included in mixed case is re-snapshotted (the binlog names it in lower case)', async () => {
    await streamWholeBinlog(stack, 'lcp');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'lcp', include: 'LcPart.T', name: 'lcp' });
    const conn = await stack.mariadb.connect();
    const client = new MongoClient(stack.mongo.url);
    sdl.start();
    try {
      await conn.query(`CREATE DATABASE LcPart; CREATE TABLE LcPart.T (id INT PRIMARY KEY, a INT) PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS THAN MAXVALUE);
        INSERT INTO LcPart.T VALUES (1, 1), (2, 2), (11, 11), (12, 12)`);
      await waitForCatchUp(stack, 'lcp', 120_000, sdl);
      await conn.query('ALTER TABLE LCPART.t DROP PARTITION p0');
      await waitForCatchUp(stack, 'lcp', 120_000, sdl);
      const deadline = Date.now() + 120_000;
      while ((await client.db('sdl').collection('snapshots').findOne({ pipeline: 'lcp', db: 'lcpart', table: 't', done: true })) === null) {
        assert.ok(sdl.running && Date.now() < deadline, `no finished copy of lcpart.t\n${sdl.logs().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await assertMirrorsEqual(stack, ['lcpart.t']);
    } finally {
      await conn.end();
      await client.close();
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    }
  });
});
