import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { streamWholeBinlog } from '../support/binlog.js';
import { sleep } from '../support/fault-run.js';
import { sdlCommand } from '../support/sdl-cli.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual, eventCounts } from '../support/verify.js';

/** Rows of the one transaction: with ~1 KB held per row it is about 1.5 times the budget below. */
const ROWS = 1500;
/**
 * The smallest in-flight budget sdl accepts, and batches of 100 rows or 64 KiB: the transaction
 * is streamed in slices of about 64 KiB (min(batch.maxBytes, budget / 4)), some 20 of them.
 */
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

  it('streams through staging in slices and replicates exactly through kill -9 while it is open, while its slices are applied, after all of it before the checkpoint, and after the checkpoint', async () => {
    const conn = await stack.mariadb.connect();
    const client = new MongoClient(stack.mongo.url);
    const config = stack.scratch.path('huge.json');
    writeFileSync(config, JSON.stringify(CONFIG));
    const sdl = (name: string, fault?: string): SdlProcess => new SdlProcess(stack.scratch, stack, {
      pipeline: PIPELINE, include: 'big', name, args: ['--config', config], ...(fault === undefined ? {} : { env: { SDL_FAULT: fault } }),
    });
    const checkpoint = async (): Promise<string | null | undefined> => (await client.db('sdl').collection<{ _id: string; gtid: string | null }>('offsets').findOne({ _id: PIPELINE }))?.gtid;
    const mirrored = (): Promise<number> => client.db('big').collection('t').countDocuments();
    const events = (): Promise<number> => client.db('sdl').collection('row_changes').countDocuments({ db: 'big' });
    const staging = client.db('sdl').collection<{ _id: string; status: string }>('row_changes_staging');
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

      // 1. kill -9 while the transaction is still open in sdl: six slices staged `open`, its COMMIT not processed.
      const first = sdl('huge-0', 'after-stage-open@6');
      first.start();
      assert.equal(await first.exited(), 137, first.logs().slice(-3000));
      const openIds = (await staging.find({ pipeline: PIPELINE, status: 'open', part: 0 }).toArray()).map((d) => d._id);
      assert.equal(openIds.length, 6, 'six slices staged open');
      assert.equal(await staging.countDocuments({ pipeline: PIPELINE, status: 'pending' }), 0);
      assert.equal(await mirrored(), 1, 'nothing of an open transaction is applied');
      assert.equal(await events(), 1);
      assert.ok(seqOf(await checkpoint()) < seqOf(txnGtid), `checkpoint ${String(await checkpoint())} stayed before ${txnGtid}`);
      // What an operator sees meanwhile: `sdl status` (no instance runs) counts the open slices.
      const st = await sdlCommand(stack, 'status', { SDL_PIPELINE: PIPELINE, SDL_HTTP_ADDR: 'off' }, ['--json']);
      assert.equal((JSON.parse(st.stdout) as { stored: { openSlices: number } }).stored.openSlices, 6, st.stdout + st.stderr);

      // 2. kill -9 after its COMMIT, while its staged slices are applied: the third one applied, the rest pending.
      const second = sdl('huge-1', 'after-slice-apply@3');
      second.start();
      assert.equal(await second.exited(), 137, second.logs().slice(-3000));
      assert.equal(await staging.countDocuments({ pipeline: PIPELINE, status: 'open' }), 0, 'the start deleted the old open slices; the COMMIT made the new ones pending');
      // The re-read made the same slices: the ids staged before the first kill are there again.
      assert.equal(await staging.countDocuments({ _id: { $in: openIds }, status: { $in: ['pending', 'applied'] } }), openIds.length);
      const pending = await staging.countDocuments({ pipeline: PIPELINE, status: 'pending', part: 0 });
      assert.ok(pending > 0, 'slices left pending');
      const applied = await mirrored();
      assert.ok(applied > 1 && applied < 1 + ROWS, `three slices applied (${applied} documents)`);
      assert.ok(seqOf(await checkpoint()) < seqOf(txnGtid), 'the checkpoint is still before the transaction');

      // 3. kill -9 once all of it is applied, before its checkpoint: the start applies the pending
      // slices (one after-apply each), the re-read brings the transaction again, its last batch is next.
      const third = sdl('huge-2', `after-apply@${pending + 1}`);
      third.start();
      assert.equal(await third.exited(), 137, third.logs().slice(-3000));
      assert.ok(third.logs().includes('re-applied staged batches left pending by the previous run'), 'recovery applied the pending slices');
      // Its last batch shares a batch with the later transactions (row 4 deleted), hence ≥ ROWS.
      assert.ok(await mirrored() >= ROWS, 'every row of the transaction reached its mirror');
      assert.ok(seqOf(await checkpoint()) < seqOf(txnGtid), 'the checkpoint is still before the transaction');

      // 4. kill -9 right after the transaction's checkpoint is written.
      const fourth = sdl('huge-3');
      fourth.start();
      const deadline = Date.now() + 300_000;
      while (seqOf(await checkpoint()) < seqOf(txnGtid)) {
        assert.ok(fourth.running, fourth.logs().slice(-3000));
        assert.ok(Date.now() < deadline, 'the transaction was applied within 5 minutes');
        await sleep(20);
      }
      await fourth.kill9();

      // 5. A clean run catches up; mirrors equal MySQL and every row change is logged exactly once.
      const last = sdl('huge-final');
      last.start();
      // Stopped before it installs its signal handlers, it would die of the SIGTERM instead of exiting 0.
      await last.leaseAcquired();
      await waitForCatchUp(stack, PIPELINE, 300_000, last);
      assert.equal(await last.stop(), 0, last.logs().slice(-3000));
      await assertMirrorsEqual(stack, ['big']);
      assert.deepEqual(await eventCounts(stack, 'big', 't'), { insert: ROWS + 1, update: 10 + 3, delete: 1 });
      const paused = [first, second, third, fourth, last].some((p) => p.lines().some((l) => l['machine'] === 'reader' && JSON.stringify(l['to']).includes('paused')));
      assert.ok(paused, 'the transaction was over the budget: the reader paused');
    } finally {
      await conn.end();
      await client.close();
    }
  });
});
