import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertLossless, shopWorkload, sleep } from '../support/fault-run.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { BackgroundWorkload } from '../support/workload.js';

const acquired = (p: SdlProcess): Record<string, unknown> | undefined => p.lines().find((l) => l['msg'] === 'lease acquired: this instance writes the pipeline');

describe('single writer', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('two instances started at once: one writes, the other waits; kill -9 the writer and the standby takes over', async () => {
    const { conn, workload } = await shopWorkload(stack, 61);
    const env = { SDL_LEASE_TTL_MS: '3000' };
    const a = new SdlProcess(stack.scratch, stack, { pipeline: 'lease', include: 'shop', name: 'lease-a', env });
    const b = new SdlProcess(stack.scratch, stack, { pipeline: 'lease', include: 'shop', name: 'lease-b', env });
    a.start();
    b.start();
    const bg = new BackgroundWorkload(workload, 5);
    const deadline = Date.now() + 60_000;
    while (acquired(a) === undefined && acquired(b) === undefined) {
      assert.ok(Date.now() < deadline, 'nobody took the lease');
      await sleep(100);
    }
    await sleep(3000);
    const [leader, standby] = acquired(a) !== undefined ? [a, b] : [b, a];
    assert.equal(acquired(standby), undefined, 'both instances hold the lease');
    assert.ok(standby.lines().some((l) => String(l['msg']).startsWith('standby')), 'the other one says it is standby');
    await leader.kill9();
    const killedAt = Date.now();
    await sleep(1000);
    const stats = await bg.stop();
    await waitForCatchUp(stack, 'lease', 120_000, standby);
    const took = acquired(standby);
    assert.ok(took !== undefined && Number(took['time']) >= killedAt, 'the standby took over only after the writer died');
    assert.equal(await standby.stop(), 0, standby.logs().slice(-2000));
    await assertLossless(stack, stats, { pipeline: 'lease', include: 'shop' });
    await conn.end();
  });
});
