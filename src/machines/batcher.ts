import { assign, enqueueActions, fromPromise, sendTo, setup } from 'xstate';
import { sibling } from './system.js';
import type { Decoder } from '../actors/decoder-pool.js';
import { type Limits, type Part, bytesOf, isFull, takeBatch, toParts } from '../pipeline/batching.js';
/** Pure, so a decode task in a worker builds the same batch (its staging payload) as the main thread. */
export { batchFrom } from '../pipeline/batching.js';
import type { Batch, SourcePosition, SourceTransaction } from '../pipeline/types.js';

/** The batcher's settings (from the config). */
export interface BatcherLimits extends Limits {
  maxDelayMs: number;
  /** Pause the reader above this many bytes between the binlog and MongoDB; resume below half. */
  maxInFlightBytes: number;
}

export interface BatcherInput extends BatcherLimits {
  /** Built by `prepare` for the MongoDB server it found; every decode step gets it as input. */
  decoder: Pick<Decoder, 'decode' | 'decodeStaged'>;
}

/** The decode step's input: the parts of one batch and the decoder to decode them with. */
export interface DecodeInput {
  parts: Part[];
  decoder: Pick<Decoder, 'decode' | 'decodeStaged'>;
}

interface BatcherContext extends BatcherInput {
  open: Part[];
  /** Bytes handed on and not yet committed, plus the open parts. */
  inFlight: number;
  throttled: boolean;
  flushRequested: boolean;
  /** How many open parts the running decode took; they leave `open` only when it is done. */
  taking: number;
  /** Batches handed to the committer and not yet committed. */
  outstanding: number;
  /** maxDelay passed while the committer was busy: flush as soon as it is ready. */
  due: boolean;
}

export type BatcherEvent =
  | { type: 'TXN'; txn: SourceTransaction }
  | { type: 'HEARTBEAT'; pos: SourcePosition }
  | { type: 'COMMITTED'; bytes: number }
  | { type: 'FLUSH' };

/** Placeholder so the machine can be inspected and printed; `run` provides the real decoder. */
const decodeBatch = fromPromise<Batch, DecodeInput>(() => Promise.reject(new Error('decodeBatch actor not provided')));

/**
 * Transactions → batches. A batch closes on rows, bytes or time, only at a transaction boundary
 * (a transaction larger than a batch goes in chunks), and a DDL always stands alone. Decoding
 * of one batch overlaps the committer writing the previous one.
 */
export const batcherMachine = setup({
  types: {} as { context: BatcherContext; events: BatcherEvent; input: BatcherInput },
  actors: { decodeBatch },
  delays: { maxDelay: ({ context }) => context.maxDelayMs },
  guards: {
    full: ({ context }) => isFull(context.open, context),
    hasOpen: ({ context }) => context.open.length > 0,
    flushRequested: ({ context }) => context.flushRequested,
    // Time closes a batch only when the committer can take it; while it is behind, batches grow
    // to their size limits instead of queueing up as many small ones (fewer round trips to catch up).
    committerReady: ({ context }) => context.outstanding < 2,
    dueAndReady: ({ context }) => context.due && context.outstanding < 2,
  },
  actions: {
    add: assign(({ context, event }) => {
      let parts: Part[];
      if (event.type === 'TXN') parts = toParts(event.txn, context.maxRows);
      else if (event.type === 'HEARTBEAT') parts = [{ gtid: undefined, ts: Date.now(), schemas: [], changes: [], end: event.pos, ddl: undefined, bytes: 64 }];
      else return {};
      return { open: [...context.open, ...parts], inFlight: context.inFlight + bytesOf(parts) };
    }),
    throttle: enqueueActions(({ context, enqueue }) => {
      if (!context.throttled && context.inFlight > context.maxInFlightBytes) {
        enqueue.sendTo(sibling('reader'), { type: 'PAUSE' });
        enqueue.assign({ throttled: true });
      } else if (context.throttled && context.inFlight <= context.maxInFlightBytes / 2) {
        enqueue.sendTo(sibling('reader'), { type: 'RESUME' });
        enqueue.assign({ throttled: false });
      }
    }),
    replyFlushed: enqueueActions(({ context, enqueue }) => {
      if (context.flushRequested) {
        enqueue.sendTo(sibling('supervisor'), { type: 'BATCHER_FLUSHED' });
        enqueue.assign({ flushRequested: false });
      }
    }),
  },
}).createMachine({
  id: 'batcher',
  context: ({ input }) => ({ ...input, open: [], inFlight: 0, throttled: false, flushRequested: false, taking: 0, outstanding: 0, due: false }),
  initial: 'idle',
  on: {
    COMMITTED: {
      actions: [assign({ inFlight: ({ context, event }) => context.inFlight - event.bytes, outstanding: ({ context }) => Math.max(0, context.outstanding - 1) }), 'throttle'],
    },
  },
  states: {
    idle: {
      entry: 'replyFlushed',
      on: {
        TXN: { target: 'accumulating', actions: ['add', 'throttle'] },
        HEARTBEAT: { target: 'accumulating', actions: 'add' },
        FLUSH: { actions: [assign({ flushRequested: true }), 'replyFlushed'] },
      },
    },
    accumulating: {
      always: [
        { guard: 'full', target: 'flushing' },
        { guard: 'dueAndReady', target: 'flushing' },
      ],
      after: { maxDelay: [{ guard: 'committerReady', target: 'flushing' }, { actions: assign({ due: true }) }] },
      on: {
        TXN: { actions: ['add', 'throttle'] },
        HEARTBEAT: { actions: 'add' },
        FLUSH: { target: 'flushing', actions: assign({ flushRequested: true }) },
      },
    },
    flushing: {
      entry: assign({ taking: ({ context }) => takeBatch(context.open, context).batch.length, due: false }),
      invoke: {
        src: 'decodeBatch',
        input: ({ context }) => ({ parts: context.open.slice(0, context.taking), decoder: context.decoder }),
        onDone: {
          target: 'flushed',
          actions: [
            sendTo(sibling('committer'), ({ event }) => ({ type: 'BATCH' as const, batch: event.output })),
            assign({ open: ({ context }) => context.open.slice(context.taking), taking: 0, outstanding: ({ context }) => context.outstanding + 1 }),
          ],
        },
        onError: { target: 'failed' },
      },
      on: {
        TXN: { actions: ['add', 'throttle'] },
        HEARTBEAT: { actions: 'add' },
        FLUSH: { actions: assign({ flushRequested: true }) },
      },
    },
    flushed: {
      always: [
        { guard: 'full', target: 'flushing' },
        { guard: 'flushRequested', target: 'flushingRest' },
        { guard: 'hasOpen', target: 'accumulating' },
        { target: 'idle' },
      ],
    },
    flushingRest: {
      always: [{ guard: 'hasOpen', target: 'flushing' }, { target: 'idle' }],
    },
    failed: {
      type: 'final',
      entry: sendTo(sibling('supervisor'), ({ event }) => ({
        type: 'CHILD_FAILED' as const,
        child: 'batcher',
        error: { code: 'DECODE', errorClass: 'permanent' as const, message: `decoding a batch failed: ${String((event as { error?: unknown }).error)}` },
      })),
    },
  },
});
