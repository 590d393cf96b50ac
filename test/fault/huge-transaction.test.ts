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

  it('replicates exactly through kill -9 between its parts, after all of them before the checkpoint, and after the checkpoint', async () => {
    const conn = await stack.mariadb.connect();
    const client = new MongoClient(stack.mongo.url);
    const config = stack.scratch.path('huge.json');
    writeFileSync(config, JSON.stringify(CONFIG));
    const sdl = (name: string, fault?: string): SdlProcess => new SdlProcess(stack.scratch, stack, {
      pipeline: PIPELINE, include: 'big', name, args: ['--config', config], ...(fault === undefined ? {} : { env: { SDL_FAULT: fault } }),
    });
    const checkpoint = async (): Promise<string | null | undefined> => (await client.db('sdl').collection<{ _id: string; gtid: string | null }>('offsets').findOne({ _id: PIPELINE }))?.gtid;
    const mirrored = (): Promise<number> => client.db('big').collection('t').countDocuments();
    try {
      await conn.query('CREATE DATABASE big');
      await conn.query('CREATE TABLE big.t (id INT PRIMARY KEY, note VARCHAR(200), n INT) CHARSET utf8mb4');
      await conn.query('INSERT INTO big.t VALUES (0, \'before\', 0)');
      await streamWholeBinlog(stack, PIPELINE);
      // Caught up before the transaction: the batches counted below are its parts.
      const warm = sdl('huge-warm');
      warm.start();
      await warm.leaseAcquired();
      await waitForCatchUp(stack, PIPELINE, 120_000, warm);
      assert.equal(await warm.stop(), 0, warm.logs().slice(-3000));

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

      // 1. kill -9 right after the 6th part is staged: five parts applied, one staged and not applied.
      const first = sdl('huge-0', 'after-stage@6');
      first.start();
      assert.equal(await first.exited(), 137, first.logs().slice(-3000));
      const atKill = await mirrored();
      const pending = await client.db('sdl').collection('row_changes_staging').countDocuments({ pipeline: PIPELINE, status: 'pending' });
      assert.equal(atKill, 1 + 5 * CONFIG.batch.maxRows, 'five parts of the transaction were applied before the kill');
      assert.ok(pending > 0, 'the sixth part was staged and left pending');
      // Applied parts do not move the checkpoint: it stays before the transaction until all of it is applied.
      assert.ok(seqOf(await checkpoint()) < seqOf(txnGtid), `checkpoint ${String(await checkpoint())} stayed before ${txnGtid}`);

      // 2. kill -9 once every part is applied, before the transaction's checkpoint is written
      // (recovery re-applies the staged sixth part, the binlog re-read brings the transaction again).
      const second = sdl('huge-1', `after-apply@${Math.ceil((ROWS + 10) / CONFIG.batch.maxRows) + 1}`);
      second.start();
      assert.equal(await second.exited(), 137, second.logs().slice(-3000));
      // Its last part shares a batch with the later transactions (row 4 deleted), hence ≥ ROWS.
      assert.ok(await mirrored() >= ROWS, 'every row of the transaction reached its mirror');
      assert.ok(seqOf(await checkpoint()) < seqOf(txnGtid), 'the checkpoint is still before the transaction');

      // 3. kill -9 right after the transaction's checkpoint is written.
      const third = sdl('huge-2');
      third.start();
      const deadline = Date.now() + 300_000;
      while (seqOf(await checkpoint()) < seqOf(txnGtid)) {
        assert.ok(third.running, third.logs().slice(-3000));
        assert.ok(Date.now() < deadline, 'the transaction was applied within 5 minutes');
        await sleep(20);
      }
      await third.kill9();

      // 3. A clean run catches up; mirrors equal MySQL and every row change is logged exactly once.
      const last = sdl('huge-final');
      last.start();
      // Stopped before it installs its signal handlers, it would die of the SIGTERM instead of exiting 0.
      await last.leaseAcquired();
      await waitForCatchUp(stack, PIPELINE, 300_000, last);
      assert.equal(await last.stop(), 0, last.logs().slice(-3000));
      await assertMirrorsEqual(stack, ['big']);
      assert.deepEqual(await eventCounts(stack, 'big', 't'), { insert: ROWS + 1, update: 10 + 3, delete: 1 });
      const paused = [first, second, third, last].some((p) => p.lines().some((l) => l['machine'] === 'reader' && JSON.stringify(l['to']).includes('paused')));
      assert.ok(paused, 'the transaction was over the budget: the reader paused');
    } finally {
      await conn.end();
      await client.close();
    }
  });
});
