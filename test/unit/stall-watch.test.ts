import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { fromPromise } from 'xstate';
import { committerMachine, type CommitterInput, type StepInput } from '../../src/machines/committer.js';
import { StallWatch } from '../../src/machines/stall-watch.js';
import { capabilities, startInSystem } from '../support/machines.js';

function capture(): { lines: Record<string, unknown>[]; log: pino.Logger } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: pino({ level: 'info' }, sink) };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('StallWatch', () => {
  it('reports a committer write that never settles, at 2 min and again at 4 min, and nothing once it moves on', async () => {
    const { lines, log } = capture();
    let now = 0;
    const watch = new StallWatch(log, 120_000, () => now);
    let settle: (() => void) | undefined;
    const machine = committerMachine.provide({
      actors: {
        recover: fromPromise<unknown, CommitterInput>(() => Promise.resolve(0)),
        // A MongoDB call the server accepted and never answered.
        writeBatch: fromPromise<unknown, StepInput>(() => new Promise((resolve) => { settle = () => resolve(null); })),
        checkpoint: fromPromise<unknown, StepInput>(() => Promise.resolve(null)),
      },
    });
    const sys = startInSystem(machine, 'committer', { caps: capabilities(), term: 1 }, watch.observe);
    try {
      await tick();
      sys.sut.send({ type: 'BATCH', batch: { id: 'b1', end: { file: 'binlog.000001', pos: 100 }, lastTs: 0, changes: [], ddl: [], rows: 1, bytes: 10 } });
      await tick();
      const warned = (): Record<string, unknown>[] => lines.filter((l) => l['machine'] === 'committer' && l['state'] === 'writing');
      now = 119_000;
      watch.check();
      assert.equal(warned().length, 0, 'not before the threshold');
      now = 121_000;
      watch.check();
      assert.equal(warned().length, 1);
      assert.equal(warned()[0]?.['seconds'], 121);
      assert.match(String(warned()[0]?.['msg']), /committer has been writing for 121 s/);
      now = 200_000;
      watch.check();
      assert.equal(warned().length, 1, 'once per doubling, not at every check');
      now = 243_000;
      watch.check();
      assert.equal(warned().length, 2);
      settle?.();
      await tick();
      await tick();
      now = 1_000_000;
      watch.check();
      assert.equal(sys.sut.getSnapshot().value, 'idle');
      assert.equal(lines.length, 2, 'the write settled and the batch is committed: nothing stalls');
    } finally {
      watch.stop();
      sys.root.stop();
    }
  });

  it('never reports resting states, however long', async () => {
    const { lines, log } = capture();
    let now = 0;
    const watch = new StallWatch(log, 120_000, () => now);
    const machine = committerMachine.provide({ actors: { recover: fromPromise<unknown, CommitterInput>(() => Promise.resolve(0)) } });
    const sys = startInSystem(machine, 'committer', { caps: capabilities(), term: 1 }, watch.observe);
    try {
      await tick();
      assert.equal(sys.sut.getSnapshot().value, 'idle');
      now = 10_000_000;
      watch.check();
      assert.equal(lines.length, 0);
    } finally {
      watch.stop();
      sys.root.stop();
    }
  });
});
