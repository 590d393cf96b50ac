import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSecondSource, startStack, type Stack } from '../support/stack.js';
import { sdlCheck, sdlCommand } from '../support/sdl-cli.js';


const check = sdlCheck;

describe('sdl check: source prerequisites, privileges, retention', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('a source set up as the README says passes', async () => {
    const { code, report } = await check(stack);
    assert.equal(code, 0, JSON.stringify(report));
    assert.ok(report.findings?.every((f) => f.ok && f.warning !== true), JSON.stringify(report.findings));
  });

  it('binlog_format=MIXED: exit 2 naming the setting and the fix', async () => {
    const conn = await stack.mariadb.connect();
    try {
      await conn.query("SET GLOBAL binlog_format = 'MIXED'");
      const { code, report } = await check(stack);
      assert.equal(code, 2);
      assert.match(report.source?.error ?? '', /binlog_format is MIXED, needs ROW \(SET GLOBAL binlog_format=ROW/);
    } finally {
      await conn.query("SET GLOBAL binlog_format = 'ROW'");
      await conn.end();
    }
  });

  it('a user without REPLICATION CLIENT: exit 2 with the GRANT that fixes it', async () => {
    const conn = await stack.mariadb.connect();
    try {
      await conn.query("CREATE USER 'weak'@'127.0.0.1' IDENTIFIED BY 'weak-pw'; GRANT REPLICATION SLAVE, SELECT ON *.* TO 'weak'@'127.0.0.1'");
      const { code, report } = await check(stack, { SDL_MYSQL_URL: `mysql://weak:weak-pw@127.0.0.1:${stack.mariadb.port}` });
      assert.equal(code, 2);
      const privileges = report.findings?.find((f) => f.check === 'privileges');
      assert.equal(privileges?.ok, false, JSON.stringify(report));
      assert.match(privileges?.fix ?? '', /GRANT REPLICATION CLIENT ON \*\.\*/);
    } finally {
      await conn.end();
    }
  });

  it('sdl run with a password MySQL refuses exits 2 (no restart into the same refusal) saying what the user needs', async () => {
    const { code, stderr, stdout } = await sdlCommand(stack, 'run', { SDL_MYSQL_URL: `mysql://root:not-the-password@127.0.0.1:${stack.mariadb.port}`, SDL_PIPELINE: 'badpw' });
    assert.equal(code, 2, stdout.slice(-2000));
    assert.match(stdout + stderr, /Access denied for user 'root'/);
    assert.match(stdout + stderr, /REPLICATION SLAVE, REPLICATION CLIENT and SELECT/);
  });

  it('one day of binlog retention: a warning with the fix, not a failure', async () => {
    const conn = await stack.mariadb.connect();
    try {
      await conn.query('SET GLOBAL binlog_expire_logs_seconds = 86400');
      const { code, report } = await check(stack);
      assert.equal(code, 0);
      const retention = report.findings?.find((f) => f.check === 'binlog retention');
      assert.equal(retention?.warning, true, JSON.stringify(report));
      assert.match(retention?.detail ?? '', /purged after 1 days/);
      assert.match(retention?.fix ?? '', /binlog_expire_logs_seconds=1209600/);
    } finally {
      await conn.query('SET GLOBAL binlog_expire_logs_seconds = 0');
      await conn.end();
    }
  });

  it('a server with the binlog off: exit 2 saying how to turn it on', async () => {
    const off = await startSecondSource(stack, { extraArgs: ['--skip-log-bin'] });
    try {
      const { code, report } = await check(off);
      assert.equal(code, 2);
      assert.match(report.source?.error ?? '', /log_bin is OFF \(start the server with --log-bin\)/);
    } finally {
      await off.stop();
    }
  });
});
