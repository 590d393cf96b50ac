import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AnyActorLogic, type AnyActorRef, createActor, type EventObject, fromCallback, SimulatedClock } from 'xstate';
import { Decoder } from '../../src/actors/decoder-pool.js';
import { FULL_CAPABILITIES } from '../../src/decode/wire.js';
import { driverCode, type ErrorInfo } from '../../src/errors.js';
import type { BatcherInput } from '../../src/machines/batcher.js';
import type { CommitterInput } from '../../src/machines/committer.js';
import type { ReaderInput } from '../../src/machines/reader.js';
import type { LeaseKeeperInput } from '../../src/actors/lease-keeper.js';
import { StepError } from '../../src/machines/committer.js';
import { type Prepared, supervisorMachine, type SupervisorEvent, type SupervisorInput } from '../../src/machines/supervisor.js';
import {
  assertFailuresCovered,
  capabilities,
  controllable,
  emptyReceived,
  errorOfEvent,
  invokeEvents,
  label,
  lastCall,
  model,
  type Path,
  serializer,
  walk,
  withoutSystemIds,
} from '../support/machines.js';

interface Ctx {
  attempt: number;
  error: ErrorInfo | undefined;
  degraded: string[];
}

const input: SupervisorInput = {
  mysqlUrl: 'mysql://x',
  serverId: 1,
  include: [],
  batcher: { maxRows: 10, maxBytes: 1000, maxDelayMs: 100, maxInFlightBytes: 1000 },
};
const childError: ErrorInfo = { code: driverCode('MONGO_121'), errorClass: 'permanent', message: 'document failed validation' };
const events: SupervisorEvent[] = [
  { type: 'STOP' },
  { type: 'COMMITTER_READY' },
  { type: 'BATCHER_FLUSHED' },
  { type: 'COMMITTER_DRAINED' },
  ...(['reader', 'committer'] as const).flatMap((child): SupervisorEvent[] => [
    { type: 'CHILD_DEGRADED', child, error: { ...childError, errorClass: 'transient' } },
    { type: 'CHILD_RECOVERED', child },
  ]),
  { type: 'CHILD_FAILED', child: 'committer', error: childError },
];
/** What the n-th run of prepare finds: every run other values, so a child handed stale ones shows. */
function prepared(n: number): Prepared {
  return {
    start: { file: 'binlog.000001', pos: 4 + n },
    lease: { owner: 'test', term: n, sentAt: 0 },
    caps: capabilities(`7.0.${n}`),
    // Inline (no worker threads): nothing to close.
    decoder: new Decoder({ workers: 0, caps: FULL_CAPABILITIES }),
  };
}
const output = (): Prepared => prepared(0);
const serialize = serializer<Ctx>((c) => ({ degraded: c.degraded, error: c.error?.code, retrying: c.attempt > 0 }));
const graphMachine = withoutSystemIds(supervisorMachine);
const supervisorModel = model(graphMachine, [...events, ...invokeEvents(supervisorMachine, output)], serialize, undefined, input);
const paths: Path[] = supervisorModel.getShortestPaths();

const CHILDREN = ['reader', 'batcher', 'committer', 'lease'] as const;
const CRASH = 'test.crash';

/** The input each child was spawned with, in spawn order. */
interface Spawned {
  reader: ReaderInput[];
  batcher: BatcherInput[];
  committer: CommitterInput[];
  lease: LeaseKeeperInput[];
}

/** Walked paths that reached `active` after a retried prepare (see the last test). */
let activeAfterRetry = 0;

/** A recording child that throws what the test hands it, as a buggy child would. */
function crashable(received: ReturnType<typeof emptyReceived>, spawned: Spawned, as: (typeof CHILDREN)[number]): AnyActorLogic {
  return fromCallback<EventObject, unknown>(({ input, receive }) => {
    (spawned[as] as unknown[]).push(input);
    receive((e) => {
      if (e.type === CRASH) throw (e as EventObject & { error: unknown }).error;
      if (as !== 'lease') received[as].push(e);
    });
  });
}

async function walkSupervisor(path: Path): Promise<void> {
  const prepare = controllable<void, Prepared>();
  const received = emptyReceived();
  const spawned: Spawned = { reader: [], batcher: [], committer: [], lease: [] };
  const outputs: Prepared[] = [];
  const clock = new SimulatedClock();
  const child = (as: (typeof CHILDREN)[number]): AnyActorLogic => crashable(received, spawned, as);
  const machine = supervisorMachine.provide({ actors: { prepare: prepare.logic, reader: child('reader'), batcher: child('batcher'), committer: child('committer'), leaseKeeper: child('lease') } as never });
  const sup = createActor(machine, { systemId: 'supervisor', clock, input });
  const errors: unknown[] = [];
  sup.subscribe({ error: (e) => errors.push(e) });
  sup.start();
  let failure: ErrorInfo | undefined;
  let flushedWhileStopping = false;
  try {
    await walk<SupervisorEvent | EventObject>(
      supervisorModel,
      path,
      (event) => {
        if (event.type.startsWith('xstate.after.')) clock.increment(30_000);
        else if (event.type.startsWith('xstate.done.')) {
          const out = prepared(prepare.calls.length);
          outputs.push(out);
          lastCall(prepare.calls).resolve(out);
        }
        else if (event.type.startsWith('xstate.error.')) {
          const error = errorOfEvent(event) as StepError;
          const child = CHILDREN.find((c) => event.type === `xstate.error.actor.${c}`);
          if (child !== undefined) {
            // A child that throws stops the pipeline, whatever the class of what it threw.
            (sup.getSnapshot().children[child] as AnyActorRef | undefined)?.send({ type: CRASH, error });
            failure = error.info;
          } else {
            lastCall(prepare.calls).reject(error);
            if (error.info.errorClass !== 'transient') failure = error.info;
          }
        } else {
          if (event.type === 'BATCHER_FLUSHED' && JSON.stringify(sup.getSnapshot().value).includes('stopping')) flushedWhileStopping = true;
          if (event.type === 'CHILD_FAILED') failure = (event as Extract<SupervisorEvent, { type: 'CHILD_FAILED' }>).error;
          sup.send(event as SupervisorEvent);
        }
      },
      (state) => {
        const real = sup.getSnapshot();
        assert.deepEqual(errors, []);
        assert.deepEqual(real.value, state.value);
        assert.deepEqual(real.context.degraded, (state.context as Ctx).degraded);
        const v = JSON.stringify(real.value);
        const children = Object.keys(real.children).filter((id) => ['reader', 'batcher', 'committer'].includes(id)).sort();
        assert.deepEqual(children, v.includes('running') ? ['batcher', 'committer', 'reader'] : v.includes('active') ? ['committer'] : []);
        if (v.includes('active') || children.length > 0) {
          // Children start from what the prepare that let them run produced, handed over as input.
          const last = outputs.at(-1);
          assert.ok(last !== undefined, 'children without a successful prepare');
          assert.equal(real.context.prepared, last);
          assert.equal(spawned.committer.length, 1);
          assert.equal(spawned.committer[0]?.caps, last.caps);
          assert.equal(spawned.committer[0]?.term, last.lease?.term);
          assert.deepEqual(spawned.lease, [{ lease: last.lease }]);
          assert.equal(spawned.lease[0]?.lease, last.lease);
          if (v.includes('running')) {
            assert.equal(spawned.batcher.at(-1)?.decoder, last.decoder);
            assert.deepEqual({ ...spawned.batcher.at(-1), decoder: undefined }, { ...input.batcher, decoder: undefined });
            assert.equal(spawned.reader.at(-1)?.start, last.start);
          }
          if (prepare.calls.length > 1) activeAfterRetry++;
        }
        if (v.includes('stopping')) {
          // Shutdown order: the reader stops and the batcher flushes; the committer drains only after the flush.
          assert.deepEqual(received.reader.map((e) => e.type), ['STOP']);
          assert.deepEqual(received.batcher.map((e) => e.type), ['FLUSH']);
          assert.equal(received.committer.some((e) => e.type === 'DRAIN'), flushedWhileStopping);
        }
        if (real.value === 'stopped') {
          assert.equal(real.status, 'done');
          assert.deepEqual(real.output, { error: undefined }, 'a clean stop reports no error');
        }
        if (real.value === 'failed') {
          assert.equal(real.status, 'done');
          assert.deepEqual(real.output, { error: failure });
        }
      },
    );
  } finally {
    sup.stop();
  }
}

describe('supervisor machine, model-based', () => {
  it('has a known number of paths, so a new transition cannot slip in untested', () => {
    assert.equal(paths.length, 179);
  });

  it('walks every onError, CHILD_DEGRADED and CHILD_FAILED transition on some path', () => {
    assertFailuresCovered(graphMachine, ['CHILD_DEGRADED', 'CHILD_FAILED'], paths);
  });

  for (const path of paths) {
    it(label(path), () => walkSupervisor(path));
  }

  it('walks paths where a retried prepare hands its values to the children', () => {
    assert.ok(activeAfterRetry > 0);
  });
});
