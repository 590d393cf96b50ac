import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventObject } from 'xstate';
import { committerMachine, type CommitterInput, type StepInput } from '../../src/machines/committer.js';
import type { Batch } from '../../src/pipeline/types.js';
import {
  assertFailuresCovered,
  capabilities,
  controllable,
  errorOfEvent,
  invokeEvents,
  label,
  lastCall,
  model,
  type Path,
  serializer,
  startInSystem,
  walk,
} from '../support/machines.js';

interface Ctx {
  queue: Batch[];
  attempt: number;
  retry: string;
  draining: boolean;
}

function batch(id: string): Batch {
  return { id, end: { file: 'binlog.000001', pos: 100 }, lastTs: 0, changes: [], ddl: [], rows: 1, bytes: 10 };
}

// What prepare found, as the supervisor spawns the committer with it: every step must write by it.
const caps = capabilities();
const input: CommitterInput = { caps, term: 7 };

const events: EventObject[] = [{ type: 'BATCH', batch: batch('model') } as EventObject, { type: 'DRAIN' }, ...invokeEvents(committerMachine)];
const serialize = serializer<Ctx>((c) => ({ queued: c.queue.length, draining: c.draining, retry: c.retry, retrying: c.attempt > 0 }));
// Two queued batches already show "the next one waits its turn"; more add no behaviour.
const committerModel = model(committerMachine, events, serialize, (c: Ctx, e) => e.type !== 'BATCH' || c.queue.length < 2, input);
const paths: Path[] = committerModel.getShortestPaths();

async function walkCommitter(path: Path): Promise<void> {
  const recover = controllable<CommitterInput, unknown>();
  const write = controllable<StepInput, unknown>();
  const checkpoint = controllable<StepInput, unknown>();
  const machine = committerMachine.provide({ actors: { recover: recover.logic, writeBatch: write.logic, checkpoint: checkpoint.logic } });
  const sys = startInSystem(machine, 'committer', input);
  const sent: string[] = [];
  let lastError: unknown;
  try {
    await walk(
      committerModel,
      path,
      (event) => {
        const t = event.type;
        if (t === 'BATCH') {
          const id = `b${sent.length}`;
          sent.push(id);
          sys.sut.send({ type: 'BATCH', batch: batch(id) });
        } else if (t === 'DRAIN') sys.sut.send({ type: 'DRAIN' });
        else if (t.startsWith('xstate.after.')) sys.clock.increment(30_000);
        else {
          const call = t.endsWith('recovering') ? lastCall(recover.calls) : t.endsWith('writing') ? lastCall(write.calls) : lastCall(checkpoint.calls);
          if (t.startsWith('xstate.done.')) call.resolve(undefined);
          else call.reject((lastError = errorOfEvent(event)));
        }
      },
      (state) => {
        const real = sys.sut.getSnapshot() as { value: unknown; status: string; context: Ctx };
        assert.deepEqual(sys.errors, []);
        assert.deepEqual(real.value, state.value);
        assert.equal(real.context.queue.length, (state.context as Ctx).queue.length);
        // Batches are written in the order they arrived; a retry writes the same batch again, never the next one.
        const written = write.calls.map((c) => c.input.batch.id);
        written.forEach((id, i) => {
          const prev = i === 0 ? -1 : sent.indexOf(written[i - 1] ?? '');
          assert.ok([prev, prev + 1].includes(sent.indexOf(id)), `write order ${written.join(',')} of ${sent.join(',')}`);
        });
        if (real.value === 'writing') assert.equal(write.calls.at(-1)?.input.batch.id, real.context.queue[0]?.id);
        if (real.value === 'checkpointing') assert.equal(checkpoint.calls.at(-1)?.input.batch.id, written.at(-1));
        // Only a written batch is checkpointed, and the batcher hears of it once per checkpoint.
        for (const c of checkpoint.calls) assert.ok(written.includes(c.input.batch.id));
        // Every step writes with the capabilities and the lease term the committer was spawned with.
        for (const c of [...recover.calls, ...write.calls, ...checkpoint.calls]) {
          assert.equal(c.input.caps, caps);
          assert.equal(c.input.term, input.term);
        }
        const committed = sys.received.batcher.filter((e) => e.type === 'COMMITTED').length;
        assert.deepEqual(real.context.queue.map((b) => b.id), sent.slice(committed));
        const toSupervisor = sys.received.supervisor;
        if (real.value === 'failed') {
          assert.equal(real.status, 'done');
          assert.deepEqual(toSupervisor.at(-1), { type: 'CHILD_FAILED', child: 'committer', error: (lastError as { info: unknown }).info });
        }
        if (real.value === 'backoff') assert.equal(toSupervisor.at(-1)?.type, 'CHILD_DEGRADED');
        if (real.value === 'drained') assert.equal(toSupervisor.at(-1)?.type, 'COMMITTER_DRAINED');
      },
    );
  } finally {
    sys.root.stop();
  }
}

describe('committer machine, model-based', () => {
  it('has a known number of paths, so a new transition cannot slip in untested', () => {
    assert.equal(paths.length, 138);
  });

  it('walks every onError on some path', () => {
    assertFailuresCovered(committerMachine, [], paths);
  });

  for (const path of paths) {
    it(label(path), () => walkCommitter(path));
  }
});
