import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { streamWholeBinlog } from '../support/binlog.js';
import { assertLossless, shopWorkload, sleep } from '../support/fault-run.js';
import { SdlProcess } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { BackgroundWorkload, rng } from '../support/workload.js';

const KILLS = process.env['SDL_SOAK'] === '1' ? 300 : 10;

describe('stopping and killing sdl mid-stream', () => {
  let stack: Stack;
  // Each test gets its own servers: the event-log counts must be this test's alone.
  beforeEach(async () => {
    stack = await startStack();
  });
  afterEach(async () => {
    await stack?.stop();
  });

  it('SIGTERM mid-stream flushes, checkpoints and exits 0; the next start misses and doubles nothing', async () => {
    const { conn, workload } = await shopWorkload(stack, 11);
    await workload.run(200);
    const bg = new BackgroundWorkload(workload);
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'term');
    for (let round = 0; round < 3; round++) {
      const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'term', include: 'shop', name: `term-${round}` });
      sdl.start();
      await sleep(1500 + round * 500);
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
      const lines = sdl.lines();
      assert.ok(lines.some((l) => l['msg'] === 'stopped cleanly'), 'clean stop logged');
    }
    const stats = await bg.stop();
    await assertLossless(stack, stats, { pipeline: 'term', include: 'shop' });
    await conn.end();
  });

  it(`kill -9 at ${KILLS} random points of a mixed workload loses and doubles nothing`, async () => {
    const { conn, workload } = await shopWorkload(stack, 23);
    const random = rng(5);
    await workload.run(100);
    const bg = new BackgroundWorkload(workload);
    // Streams the rows written before it started (not the initial snapshot): see streamWholeBinlog.
    await streamWholeBinlog(stack, 'kill');
    for (let k = 0; k < KILLS; k++) {
      const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'kill', include: 'shop', name: `kill-${k}` });
      sdl.start();
      // Random points once it is the writer: recovery, mid-batch, mid-checkpoint.
      await sdl.leaseAcquired();
      await sleep(Math.floor(random() * 2500));
      await sdl.kill9();
    }
    const stats = await bg.stop();
    await assertLossless(stack, stats, { pipeline: 'kill', include: 'shop' });
    await conn.end();
  });
});
