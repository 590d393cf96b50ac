import { assign, type EventObject, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import type { ErrorInfo } from '../errors.js';
import type { Decoder } from '../actors/decoder-pool.js';
import type { LeaseKeeperEvent, LeaseKeeperInput } from '../actors/lease-keeper.js';
import type { Capabilities } from '../mongo/capabilities.js';
import type { Lease } from '../mongo/lease.js';
import type { SourcePosition } from '../pipeline/types.js';
import { retryDelay } from './backoff.js';
import { batcherMachine, type BatcherInput, type BatcherLimits } from './batcher.js';
import { committerMachine, type CommitterInput } from './committer.js';
import { readerMachine } from './reader.js';

export interface SupervisorInput {
  mysqlUrl: string;
  serverId: number;
  include: readonly string[];
  heartbeatMs?: number;
  /** An open source transaction past this many held bytes is streamed through staging in slices. */
  sliceBytes?: number;
  batcher: BatcherLimits;
}

/**
 * What `prepare` produced, kept in context and handed to the children of `active` as their
 * input when they are spawned: a retried prepare's values reach the children of that run.
 */
export interface Prepared {
  /** The saved checkpoint, or undefined to read the whole retained binlog (the reader's start). */
  start: SourcePosition | undefined;
  /** The single-writer lease taken for this run; its keeper renews it, the committer fences by its term. */
  lease?: Lease;
  /** What the MongoDB server can do, as probed by this prepare (the committer writes by it). */
  caps: Capabilities;
  /** Built for those capabilities (the batcher decodes with it). */
  decoder: Decoder;
}

interface SupervisorContext extends SupervisorInput {
  /** Undefined until a prepare succeeds; `active` is only entered with it. */
  prepared: Prepared | undefined;
  attempt: number;
  error: ErrorInfo | undefined;
  /** Children currently retrying a transient failure. */
  degraded: string[];
}

export type SupervisorEvent =
  | { type: 'STOP' }
  | { type: 'COMMITTER_READY' }
  | { type: 'BATCHER_FLUSHED' }
  | { type: 'COMMITTER_DRAINED' }
  | { type: 'CHILD_DEGRADED'; child: string; error: ErrorInfo | undefined }
  | { type: 'CHILD_RECOVERED'; child: string }
  | { type: 'CHILD_FAILED'; child: string; error: ErrorInfo | undefined };

export interface SupervisorOutput {
  error: ErrorInfo | undefined;
}

/** `active` is entered only from prepare's onDone, which sets it: its absence is a bug. */
function preparedOf(context: SupervisorContext): Prepared {
  if (context.prepared === undefined) throw new Error('supervisor spawned its children without prepare\'s output');
  return context.prepared;
}

/** What the committer is spawned with: the capabilities and the lease term of a prepare. */
export function committerInputOf(prepared: Prepared): CommitterInput {
  return { caps: prepared.caps, term: prepared.lease?.term };
}

function errorOf(e: unknown): ErrorInfo {
  const info = (e as { info?: ErrorInfo }).info;
  if (info !== undefined) return info;
  return { code: 'UNEXPECTED', errorClass: 'permanent', message: e instanceof Error ? e.message : String(e) };
}

/**
 * The root of the actor tree. starting (MongoDB reachable, checkpoint read) → recovering
 * (committer re-applies staged batches) → running (reader + batcher; degraded while a child
 * retries) → stopping (reader stops, batcher flushes, committer drains) → stopped; a permanent
 * child failure ends in failed with the error as output.
 */
export const supervisorMachine = setup({
  types: {} as { context: SupervisorContext; events: SupervisorEvent; input: SupervisorInput; output: SupervisorOutput },
  actors: {
    prepare: fromPromise<Prepared, void>(() => Promise.reject(new Error('prepare actor not provided'))),
    // Without a lease (tests, tools) there is nothing to renew.
    leaseKeeper: fromCallback<EventObject, LeaseKeeperInput, LeaseKeeperEvent>(() => undefined),
    reader: readerMachine,
    batcher: batcherMachine,
    committer: committerMachine,
  },
  delays: { retry: ({ context }) => retryDelay(context.attempt, context.error) },
  guards: {
    transient: ({ event }) => errorOf((event as { error?: unknown }).error).errorClass === 'transient',
    nothingDegraded: ({ context }) => context.degraded.length === 0,
  },
  actions: {
    fail: assign({ error: ({ event }) => (event.type === 'CHILD_FAILED' ? event.error : errorOf((event as { error?: unknown }).error)) }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({ ...input, prepared: undefined, attempt: 0, error: undefined, degraded: [] }),
  initial: 'starting',
  output: ({ context }) => ({ error: context.error }),
  on: {
    CHILD_FAILED: { target: '.failed', actions: 'fail' },
  },
  states: {
    starting: {
      invoke: {
        src: 'prepare',
        onDone: { target: 'active', actions: assign({ prepared: ({ event }) => event.output, attempt: 0 }) },
        onError: [
          { guard: 'transient', target: 'startBackoff', actions: assign({ error: ({ event }) => errorOf(event.error) }) },
          { target: 'failed', actions: 'fail' },
        ],
      },
      on: { STOP: 'stopped' },
    },
    startBackoff: {
      after: { retry: { target: 'starting', actions: assign({ attempt: ({ context }) => context.attempt + 1 }) } },
      on: { STOP: 'stopped' },
    },
    active: {
      // A child that throws is a bug, not an outage (outages are retried inside each child):
      // stop with its error rather than run on without it.
      invoke: [
        {
          id: 'committer',
          systemId: 'committer',
          src: 'committer',
          input: ({ context }) => committerInputOf(preparedOf(context)),
          onError: { target: '#supervisor.failed', actions: 'fail' },
        },
        { id: 'lease', src: 'leaseKeeper', input: ({ context }) => ({ lease: context.prepared?.lease }), onError: { target: '#supervisor.failed', actions: 'fail' } },
      ],
      initial: 'recovering',
      states: {
        recovering: {
          on: { COMMITTER_READY: 'running', STOP: '#supervisor.stopped' },
        },
        running: {
          invoke: [
            { id: 'batcher', systemId: 'batcher', src: 'batcher', input: ({ context }): BatcherInput => ({ ...context.batcher, decoder: preparedOf(context).decoder }), onError: { target: '#supervisor.failed', actions: 'fail' } },
            {
              id: 'reader',
              systemId: 'reader',
              src: 'reader',
              onError: { target: '#supervisor.failed', actions: 'fail' },
              input: ({ context }) => ({ url: context.mysqlUrl, serverId: context.serverId, include: context.include, start: preparedOf(context).start, heartbeatMs: context.heartbeatMs, sliceBytes: context.sliceBytes }),
            },
          ],
          initial: 'healthy',
          on: {
            CHILD_DEGRADED: {
              target: '.degraded',
              actions: assign({ degraded: ({ context, event }) => [...new Set([...context.degraded, event.child])] }),
            },
            CHILD_RECOVERED: {
              actions: assign({ degraded: ({ context, event }) => context.degraded.filter((c) => c !== event.child) }),
            },
            STOP: { target: '.stopping' },
          },
          states: {
            healthy: {},
            degraded: {
              always: { guard: 'nothingDegraded', target: 'healthy' },
            },
            stopping: {
              entry: [sendTo('reader', { type: 'STOP' }), sendTo('batcher', { type: 'FLUSH' })],
              on: {
                BATCHER_FLUSHED: { actions: sendTo('committer', { type: 'DRAIN' }) },
                COMMITTER_DRAINED: '#supervisor.stopped',
                CHILD_DEGRADED: {},
                STOP: {},
              },
            },
          },
        },
      },
    },
    // A clean stop reports no error, even one a start-up retry left behind.
    stopped: { type: 'final', entry: assign({ error: undefined }) },
    failed: { type: 'final' },
  },
});
