import { assign, enqueueActions, sendTo, setup } from 'xstate';
import { sibling } from './system.js';
import type { BinlogStreamEvent, BinlogStreamInput } from '../actors/binlog-stream.js';
import { binlogStream } from '../actors/binlog-stream.js';
import type { ErrorInfo } from '../errors.js';
import type { SourcePosition } from '../pipeline/types.js';
import { retryDelay } from './backoff.js';

export interface ReaderInput {
  url: string;
  serverId: number;
  include: readonly string[];
  start: SourcePosition | undefined;
  heartbeatMs?: number;
  sliceBytes?: number;
}

interface ReaderContext extends ReaderInput {
  /** The last position handed on to the batcher: where a reconnect resumes. */
  position: SourcePosition | undefined;
  attempt: number;
  /** Backpressure asked us to stop reading; survives reconnects. */
  throttled: boolean;
  lastError: ErrorInfo | undefined;
}

export type ReaderEvent =
  | BinlogStreamEvent
  | { type: 'PAUSE' }
  | { type: 'RESUME' }
  | { type: 'STOP' };

/**
 * The binlog reader: connecting → streaming ⇄ paused, backoff on transient errors (forever,
 * resuming from the last position it handed on), stopped on STOP, failed on a permanent error.
 */
export const readerMachine = setup({
  types: {} as { context: ReaderContext; events: ReaderEvent; input: ReaderInput },
  actors: { binlogStream },
  delays: {
    retry: ({ context }) => retryDelay(context.attempt, context.lastError),
  },
  guards: {
    transient: ({ event }) => event.type === 'STREAM_ERROR' && event.error.errorClass === 'transient',
    throttled: ({ context }) => context.throttled,
  },
  actions: {
    recovered: enqueueActions(({ context, enqueue }) => {
      if (context.attempt > 0) enqueue.sendTo(sibling('supervisor'), () => ({ type: 'CHILD_RECOVERED' as const, child: 'reader' }));
      enqueue.assign({ attempt: 0 });
    }),
  },
}).createMachine({
  id: 'reader',
  context: ({ input }) => ({ ...input, position: input.start, attempt: 0, throttled: false, lastError: undefined }),
  initial: 'online',
  on: {
    STOP: '.stopped',
  },
  states: {
    online: {
      invoke: {
        id: 'stream',
        src: 'binlogStream',
        input: ({ context }): BinlogStreamInput => ({ url: context.url, serverId: context.serverId, start: context.position, include: context.include, heartbeatMs: context.heartbeatMs, sliceBytes: context.sliceBytes }),
      },
      initial: 'connecting',
      on: {
        TXN: {
          actions: [
            assign({ position: ({ context, event }) => carryJson(event.txn.end, context.position) }),
            sendTo(sibling('batcher'), ({ event }) => ({ type: 'TXN' as const, txn: event.txn })),
          ],
        },
        HEARTBEAT: {
          actions: [
            assign({ position: ({ context, event }) => carryJson(event.pos, context.position) }),
            sendTo(sibling('batcher'), ({ event }) => ({ type: 'HEARTBEAT' as const, pos: event.pos })),
          ],
        },
        STREAM_ERROR: [
          { guard: 'transient', target: 'backoff', actions: assign({ lastError: ({ event }) => event.error }) },
          { target: 'failed', actions: assign({ lastError: ({ event }) => event.error }) },
        ],
      },
      states: {
        connecting: {
          on: {
            CONNECTED: [
              { guard: 'throttled', target: 'paused', actions: 'recovered' },
              { target: 'streaming', actions: 'recovered' },
            ],
            PAUSE: { actions: assign({ throttled: true }) },
            RESUME: { actions: assign({ throttled: false }) },
          },
        },
        streaming: {
          on: { PAUSE: { target: 'paused', actions: assign({ throttled: true }) } },
        },
        paused: {
          entry: sendTo('stream', { type: 'PAUSE' }),
          exit: sendTo('stream', { type: 'RESUME' }),
          on: { RESUME: { target: 'streaming', actions: assign({ throttled: false }) } },
        },
      },
    },
    backoff: {
      entry: sendTo(sibling('supervisor'), ({ context }) => ({ type: 'CHILD_DEGRADED' as const, child: 'reader', error: context.lastError })),
      after: { retry: { target: 'online', actions: assign({ attempt: ({ context }) => context.attempt + 1 }) } },
      on: {
        PAUSE: { actions: assign({ throttled: true }) },
        RESUME: { actions: assign({ throttled: false }) },
      },
    },
    failed: {
      type: 'final',
      entry: sendTo(sibling('supervisor'), ({ context }) => ({ type: 'CHILD_FAILED' as const, child: 'reader', error: context.lastError })),
    },
    stopped: { type: 'final' },
  },
});

/** A reconnect resumes with the JSON columns as they were at its position: the last state sent. */
function carryJson(pos: SourcePosition, before: SourcePosition | undefined): SourcePosition {
  return pos.json !== undefined || before?.json === undefined ? pos : { ...pos, json: before.json };
}
