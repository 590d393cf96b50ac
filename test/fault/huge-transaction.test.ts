import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { streamWholeBinlog } from '../support/binlog.js';
import { sleep } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';

/** Rows of the one transaction: with ~1 KB held per row it is about 1.5 times the budget below. */
const ROWS = 1500;
/** The smallest in-flight budget sdl accepts, and batches of 100 rows: the transaction goes in 15 parts. */
const CONFIG = { maxInFlightBytes: 1024 * 1024, batch: { maxRows: 100, maxBytes: 64 * 1024, maxDelayMs: 100 } };
const PIPELINE = 'huge';

/** Sequence number of a single-domain MariaDB GTID position ('0-1-42' → 42); none yet → 0. */
function seqOf(gtid: string | null | undefined): number {
  const m = /-(\d+)$/.exec(gtid ?? '');
  return m === null ? 0 : Number(m[1]);
}

describe('one source transaction larger than the in-flight budget', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('replicates exactly through kill -9 while its parts are staged and applied, and after its commit', async () => {
    const conn = await stack.mariadb.connect();
    const client = new MongoClient(stack.mongo.url);
    const config = stack.scratch.path('huge.json');
    writeFileSync(config, JSON.stringify(CONFIG));
    const sdl = (name: string): SdlProcess => new SdlProcess(stack.scratch, stack, { pipeline: PIPELINE, include: 'big', name, args: ['--config', config] });
    const checkpoint = async (): Promise<string | null | undefined> => (await client.db('sdl').collection<{ _id: string; gtid: string | null }>('offsets').findOne({ _id: PIPELINE }))?.gtid;
    const mirrored = (): Promise<number> => client.db('big').collection('t').countDocuments();
    try {
      await conn.query('CREATE DATABASE big');
      await conn.query('CREATE TABLE big.t (id INT PRIMARY KEY, note VARCHAR(200), n INT) CHARSET utf8mb4');
      await conn.query('INSERT INTO big.t VALUES (0, \'before\', 0)');
      await conn.query('START TRANSACTION');
      for (let i = 1; i <= ROWS; i += 250) {
        const ids = Array.from({ length: Math.min(250, ROWS + 1 - i) }, (_, k) => i + k);
        await conn.query(`INSERT INTO big.t VALUES ${ids.map(() => '(?,?,?)').join(',')}`, ids.flatMap((id) => [id, `row ${id} `.padEnd(150, 'x'), id]));
      }
      await conn.query('UPDATE big.t SET n = n + 1 WHERE id BETWEEN 1 AND 10');
      await conn.query('COMMIT');
      const [a] = await conn.query('SELECT @@gtid_binlog_pos AS pos');
      const txnGtid = String((a as { pos: string }[])[0]?.pos);
      // A later transaction touching the same rows: it must land after the huge one, not under it.
      await conn.query('UPDATE big.t SET note = \'after\' WHERE id IN (1, 2, 3)');
      await conn.query('DELETE FROM big.t WHERE id = 4');
      await streamWholeBinlog(stack, PIPELINE);

      // 1. kill -9 once part of the transaction is in MongoDB but not all of it.
      const first = sdl('huge-0');
      first.start();
      const deadline = Date.now() + 120_000;
      let atKill = 0;
      for (;;) {
        atKill = await mirrored();
        if (atKill > 1 || Date.now() > deadline) break;
        await sleep(20);
      }
      await first.kill9();
      atKill = await mirrored();
      const cpAtKill = await checkpoint();
      assert.ok(atKill > 1, 'some of the transaction reached its mirror before the kill');
      assert.ok(atKill < ROWS + 1, `the kill came while the transaction was being applied (${atKill} of ${ROWS + 1} documents)`);
      // Applied parts do not move the checkpoint: it stays before the transaction until all of it is applied.
      assert.ok(seqOf(cpAtKill) < seqOf(txnGtid), `checkpoint ${String(cpAtKill)} stayed before ${txnGtid}`);

      // 2. kill -9 right after the transaction's checkpoint is written.
      const second = sdl('huge-1');
      second.start();
      const deadline2 = Date.now() + 300_000;
      while (seqOf(await checkpoint()) < seqOf(txnGtid)) {
        assert.ok(second.running, second.logs().slice(-3000));
        assert.ok(Date.now() < deadline2, 'the transaction was applied within 5 minutes');
        await sleep(20);
      }
      await second.kill9();

      // 3. A clean run catches up; mirrors equal MySQL and every row change is logged exactly once.
      const last = sdl('huge-final');
      last.start();
      // Stopped before it installs its signal handlers, it would die of the SIGTERM instead of exiting 0.
      await last.leaseAcquired();
      await waitForCatchUp(stack, PIPELINE, 300_000, last);
      assert.equal(await last.stop(), 0, last.logs().slice(-3000));
      await assertMirrorsEqual(stack, ['big']);
      assert.deepEqual(await eventCounts(stack, 'big', 't'), { insert: ROWS + 1, update: 10 + 3, delete: 1 });
      const paused = [first, second, last].some((p) => p.lines().some((l) => l['machine'] === 'reader' && JSON.stringify(l['to']).includes('paused')));
      assert.ok(paused, 'the transaction was over the budget: the reader paused');
    } finally {
      await conn.end();
      await client.close();
    }
  });
});
