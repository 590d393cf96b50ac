import { assign, enqueueActions, fromPromise, sendTo, setup } from 'xstate';
import { sibling } from './system.js';
import type { ErrorInfo } from '../errors.js';
import type { Capabilities } from '../mongo/capabilities.js';
import type { Batch } from '../pipeline/types.js';
import { retryDelay } from './backoff.js';

/**
 * What every write depends on that `prepare` found: the supervisor spawns the committer with
 * it, and each step gets it as input, so a retried prepare's new values reach the new committer.
 */
export interface CommitterInput {
  /** What the MongoDB server can do (transactions, mirror write strategy, chunk limits). */
  caps: Capabilities;
  /** The single-writer lease term fencing checkpoint writes; none without a lease (tools, tests). */
  term: number | undefined;
}

/** A write or checkpoint step's input: the batch at the head of the queue, with what prepare found. */
export interface StepInput extends CommitterInput {
  batch: Batch;
}

interface CommitterContext extends CommitterInput {
  queue: Batch[];
  attempt: number;
  /** Which step the backoff retries. */
  retry: 'writing' | 'checkpointing' | 'recovering';
  lastError: ErrorInfo | undefined;
  draining: boolean;
}

export type CommitterEvent =
  | { type: 'BATCH'; batch: Batch }
  | { type: 'DRAIN' };

/** A failed MongoDB step, already classified by the actor that ran it. */
export class StepError extends Error {
  constructor(readonly info: ErrorInfo) {
    super(info.message);
  }
}

function infoOf(error: unknown): ErrorInfo {
  if (error instanceof StepError) return error.info;
  return { code: 'UNEXPECTED', errorClass: 'permanent', message: error instanceof Error ? error.message : String(error) };
}

const notProvided = <I, O>(name: string) => fromPromise<O, I>(() => Promise.reject(new Error(`${name} actor not provided`)));

/**
 * Batches → MongoDB, one at a time and in order: recovering (re-apply staged batches) → idle →
 * writing (stage, event log, mirrors) → checkpointing → idle. Transient failures back off and
 * retry the same step forever; the batch stays at the head of the queue until it is done.
 */
export const committerMachine = setup({
  types: {} as { context: CommitterContext; events: CommitterEvent; input: CommitterInput },
  actors: {
    recover: notProvided<CommitterInput, unknown>('recover'),
    writeBatch: notProvided<StepInput, unknown>('writeBatch'),
    checkpoint: notProvided<StepInput, unknown>('checkpoint'),
  },
  delays: { retry: ({ context }) => retryDelay(context.attempt, context.lastError) },
  guards: {
    hasWork: ({ context }) => context.queue.length > 0,
    drained: ({ context }) => context.draining && context.queue.length === 0,
    transient: ({ event }) => infoOf((event as { error?: unknown }).error).errorClass === 'transient',
    retryWriting: ({ context }) => context.retry === 'writing',
    retryCheckpoint: ({ context }) => context.retry === 'checkpointing',
  },
  actions: {
    recordError: assign({ lastError: ({ event }) => infoOf((event as { error?: unknown }).error) }),
    degraded: sendTo(sibling('supervisor'), ({ context }) => ({ type: 'CHILD_DEGRADED' as const, child: 'committer', error: context.lastError })),
    recovered: enqueueActions(({ context, enqueue }) => {
      if (context.attempt > 0) enqueue.sendTo(sibling('supervisor'), () => ({ type: 'CHILD_RECOVERED' as const, child: 'committer' }));
      enqueue.assign({ attempt: 0 });
    }),
  },
}).createMachine({
  id: 'committer',
  context: ({ input }) => ({ caps: input.caps, term: input.term, queue: [], attempt: 0, retry: 'recovering', lastError: undefined, draining: false }),
  initial: 'recovering',
  on: {
    BATCH: { actions: assign({ queue: ({ context, event }) => [...context.queue, event.batch] }) },
    DRAIN: { actions: assign({ draining: true }) },
  },
  states: {
    recovering: {
      invoke: {
        src: 'recover',
        input: ({ context }) => ({ caps: context.caps, term: context.term }),
        onDone: { target: 'idle', actions: ['recovered', sendTo(sibling('supervisor'), { type: 'COMMITTER_READY' })] },
        onError: [
          { guard: 'transient', target: 'backoff', actions: ['recordError', assign({ retry: 'recovering' })] },
          { target: 'failed', actions: 'recordError' },
        ],
      },
    },
    idle: {
      always: [
        { guard: 'hasWork', target: 'writing' },
        { guard: 'drained', target: 'drained' },
      ],
    },
    writing: {
      invoke: {
        src: 'writeBatch',
        input: ({ context }) => ({ caps: context.caps, term: context.term, batch: context.queue[0] }),
        onDone: { target: 'checkpointing' },
        onError: [
          { guard: 'transient', target: 'backoff', actions: ['recordError', assign({ retry: 'writing' })] },
          { target: 'failed', actions: 'recordError' },
        ],
      },
    },
    checkpointing: {
      invoke: {
        src: 'checkpoint',
        input: ({ context }) => ({ caps: context.caps, term: context.term, batch: context.queue[0] }),
        onDone: {
          target: 'idle',
          actions: [
            'recovered',
            sendTo(sibling('batcher'), ({ context }) => ({ type: 'COMMITTED' as const, bytes: (context.queue[0]).bytes })),
            assign({ queue: ({ context }) => context.queue.slice(1) }),
          ],
        },
        onError: [
          { guard: 'transient', target: 'backoff', actions: ['recordError', assign({ retry: 'checkpointing' })] },
          { target: 'failed', actions: 'recordError' },
        ],
      },
    },
    backoff: {
      entry: 'degraded',
      after: {
        retry: [
          { guard: 'retryWriting', target: 'writing', actions: assign({ attempt: ({ context }) => context.attempt + 1 }) },
          { guard: 'retryCheckpoint', target: 'checkpointing', actions: assign({ attempt: ({ context }) => context.attempt + 1 }) },
          { target: 'recovering', actions: assign({ attempt: ({ context }) => context.attempt + 1 }) },
        ],
      },
    },
    drained: {
      entry: sendTo(sibling('supervisor'), { type: 'COMMITTER_DRAINED' }),
      on: { BATCH: { target: 'idle', actions: assign({ queue: ({ context, event }) => [...context.queue, event.batch] }) } },
    },
    failed: {
      type: 'final',
      entry: sendTo(sibling('supervisor'), ({ context }) => ({ type: 'CHILD_FAILED' as const, child: 'committer', error: context.lastError })),
    },
  },
});
