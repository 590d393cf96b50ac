import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Connection } from 'mysql2/promise';
import { streamWholeBinlog } from '../support/binlog.js';
import { sleep } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startSecondSource, startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';

async function gtidPos(conn: Connection): Promise<string> {
  const [rows] = await conn.query('SELECT @@gtid_binlog_pos AS g');
  return String((rows as { g: string }[])[0]?.g);
}

/**
 * The source fails over to its replica. The replica has the same GTIDs (log_slave_updates) but
 * binlog files and offsets of its own, here numbered far below the primary's: positions built
 * from file and offset alone would make every change after the switch look older than the
 * mirror documents and checkpoint written before it.
 */
describe('source failover to a replica', () => {
  let stack: Stack;
  let stackB: Stack;
  before(async () => {
    stack = await startStack();
    stackB = await startSecondSource(stack, { serverId: 2, extraArgs: ['--log-slave-updates'] });
  });
  after(async () => {
    await stackB?.stop();
    await stack?.stop();
  });

  it('resumes on the promoted replica by GTID and applies what changes there, though its files and offsets are smaller', async () => {
    const a = await stack.mariadb.connect();
    const b = await stackB.mariadb.connect();
    const counts = { insert: 0, update: 0, delete: 0 };
    try {
      for (let i = 0; i < 8; i++) await a.query('FLUSH BINARY LOGS');
      // The replica follows the primary from here on (what came before is the harness's own setup).
      await b.query('SET GLOBAL gtid_slave_pos = ?', [await gtidPos(a)]);
      await b.query(`CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${stack.mariadb.port}, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos`);
      await b.query('START SLAVE');
      await a.query('CREATE DATABASE fo; CREATE TABLE fo.t (id INT PRIMARY KEY, v INT, note VARCHAR(20))');
      for (let i = 1; i <= 30; i++) await a.query('INSERT INTO fo.t VALUES (?, 0, ?)', [i, 'primary']);
      counts.insert += 30;
      // Every row change counts as a change here: stream the binlog, not an initial snapshot.
      await streamWholeBinlog(stack, 'fo');
      const sdlA = new SdlProcess(stack.scratch, stack, { pipeline: 'fo', include: 'fo', name: 'fo-primary' });
      sdlA.start();
      await a.query('UPDATE fo.t SET v = v + 1 WHERE id <= 20');
      counts.update += 20;
      await waitForCatchUp(stack, 'fo', 120_000, sdlA);
      assert.equal(await sdlA.stop(), 0, sdlA.logs().slice(-2000));
      // The replica has everything the primary logged; then it is promoted.
      const want = await gtidPos(a);
      for (let i = 0; i < 300 && (await gtidPos(b)) !== want; i++) await sleep(100);
      assert.equal(await gtidPos(b), want, 'the replica caught up with the primary');
      await b.query('STOP SLAVE');
      await b.query('RESET SLAVE ALL');

      const sdlB = new SdlProcess(stack.scratch, stackB, { pipeline: 'fo', include: 'fo', name: 'fo-replica', env: { SDL_MYSQL_URL: stackB.mariadb.url } });
      sdlB.start();
      await b.query('UPDATE fo.t SET v = v + 100, note = ? WHERE id <= 10', ['replica']);
      counts.update += 10;
      await b.query('DELETE FROM fo.t WHERE id > 25');
      counts.delete += 5;
      await b.query('INSERT INTO fo.t VALUES (31, 7, ?), (32, 8, ?)', ['replica', 'replica']);
      counts.insert += 2;
      await waitForCatchUp(stackB, 'fo', 120_000, sdlB);
      assert.equal(await sdlB.stop(), 0, sdlB.logs().slice(-2000));
      await assertMirrorsEqual(stackB, ['fo']);
      assert.deepEqual(await eventCounts(stack, 'fo', 't'), counts);
    } finally {
      await a.end();
      await b.end();
    }
  });
});
