import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { sdlCheck } from '../support/sdl-cli.js';
import { logLines, SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual } from '../support/verify.js';

/**
 * InnoDB carries out ON DELETE/ON UPDATE CASCADE and SET NULL inside the engine, and MariaDB
 * writes no binlog row for the child rows they change. Found while probing table kinds: the
 * child's mirror kept deleted rows and old values, silently. sdl now refuses such tables loudly.
 */
describe('foreign key actions the binlog does not carry', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE fk;
      CREATE TABLE fk.p (id INT PRIMARY KEY, a INT) ENGINE=InnoDB;
      CREATE TABLE fk.c (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES fk.p (id) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB;
      CREATE TABLE fk.n (id INT PRIMARY KEY, pid INT, CONSTRAINT n_to_p FOREIGN KEY (pid) REFERENCES fk.p (id) ON DELETE SET NULL ON UPDATE SET NULL) ENGINE=InnoDB;
      CREATE DATABASE rk;
      CREATE TABLE rk.p (id INT PRIMARY KEY) ENGINE=InnoDB;
      CREATE TABLE rk.c (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES rk.p (id) ON DELETE RESTRICT) ENGINE=InnoDB;`);
    for (let i = 1; i <= 5; i++) await conn.query(`INSERT INTO fk.p VALUES (${i}, ${i}); INSERT INTO fk.c VALUES (${i}, ${i}); INSERT INTO fk.n VALUES (${i}, ${i}); INSERT INTO rk.p VALUES (${i}); INSERT INTO rk.c VALUES (${i}, ${i})`);
    await conn.end();
  });
  after(async () => {
    await stack?.stop();
  });

  it('sdl check and sdl run refuse included child tables (exit 2), naming each constraint', async () => {
    const { code, report } = await sdlCheck(stack, { SDL_INCLUDE: 'fk' });
    assert.equal(code, 2, JSON.stringify(report));
    const finding = report.findings?.find((f) => f.check === 'foreign key actions');
    assert.ok(finding !== undefined && !finding.ok, JSON.stringify(report.findings));
    assert.match(finding.detail, /fk\.c \(c_ibfk_1 → fk\.p ON DELETE CASCADE ON UPDATE CASCADE\)/);
    assert.match(finding.detail, /fk\.n \(n_to_p → fk\.p ON DELETE SET NULL ON UPDATE SET NULL\)/);
    assert.match(finding.fix ?? '', /allowForeignKeyCascades/);
    // Only the parent included: its own rows are all in the binlog.
    assert.equal((await sdlCheck(stack, { SDL_INCLUDE: 'fk.p' })).code, 0);

    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'fk', include: 'fk' });
    sdl.start();
    assert.equal(await sdl.exited(), 2, sdl.logs().slice(-3000));
    const fatal = logLines(sdl.logFile).find((l) => l['level'] === 60);
    assert.equal((fatal?.['error'] as { code?: string } | undefined)?.code, 'FK_CASCADE', JSON.stringify(fatal));
    assert.match(String(fatal?.['msg']), /c_ibfk_1.*n_to_p.*not in the binlog/s);
    const client = new MongoClient(stack.mongo.url);
    try {
      assert.equal(await client.db('fk').collection('c').countDocuments({}), 0, 'nothing copied before the refusal');
    } finally {
      await client.close();
    }
  });

  it('a RESTRICT foreign key mirrors exactly; a DDL that adds a cascade mid-stream stops sdl with exit 2 before it', async () => {
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'rk', include: 'rk', name: 'sdl-rk' });
    sdl.start();
    const conn = await stack.mariadb.connect();
    try {
      await waitForCatchUp(stack, 'rk', 120_000, sdl);
      await conn.query('DELETE FROM rk.c WHERE id = 1; DELETE FROM rk.p WHERE id = 1; UPDATE rk.c SET pid = 3 WHERE id = 2');
      await waitForCatchUp(stack, 'rk', 120_000, sdl);
      await assertMirrorsEqual(stack, ['rk']);
      await conn.query('ALTER TABLE rk.c ADD CONSTRAINT c_cascade FOREIGN KEY (pid) REFERENCES rk.p (id) ON DELETE CASCADE');
      assert.equal(await sdl.exited(), 2, sdl.logs().slice(-3000));
      const fatal = logLines(sdl.logFile).find((l) => l['level'] === 60);
      assert.equal((fatal?.['error'] as { code?: string } | undefined)?.code, 'FK_CASCADE', JSON.stringify(fatal));
      assert.match(String(fatal?.['msg']), /ADD CONSTRAINT c_cascade/);
    } finally {
      await conn.end();
      if (sdl.running) await sdl.kill9();
    }
  });

  it('mysql.allowForeignKeyCascades runs with a warning naming the constraints', async () => {
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'fk-allowed', include: 'fk', name: 'sdl-allowed', env: { SDL_MYSQL_ALLOW_FOREIGN_KEY_CASCADES: 'true', SDL_MONGO_DATABASE: 'sdl_allowed' } });
    sdl.start();
    try {
      await waitForCatchUp(stack, 'fk-allowed', 120_000, sdl, 'sdl_allowed');
      const warning = logLines(sdl.logFile).find((l) => l['level'] === 40 && Array.isArray(l['cascades']));
      assert.deepEqual(warning?.['cascades'], ['fk.c (c_ibfk_1 → fk.p ON DELETE CASCADE ON UPDATE CASCADE)', 'fk.n (n_to_p → fk.p ON DELETE SET NULL ON UPDATE SET NULL)']);
      await assertMirrorsEqual(stack, ['fk']);
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    }
  });
});
