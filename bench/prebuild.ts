import { createActor, setup } from 'xstate';
import { binlogStream, type BinlogStreamEvent } from '../src/actors/binlog-stream.js';
import { Decoder } from '../src/actors/decoder-pool.js';
import { DEFAULTS } from '../src/config/config.js';
import type { DecodeCapabilities } from '../src/decode/wire.js';
import { batchFrom } from '../src/machines/batcher.js';
import { takeBatch, toParts, type Part } from '../src/pipeline/batching.js';
import type { Batch, SourceTransaction } from '../src/pipeline/types.js';
import type { BinlogEnd } from './source.js';

/** Every transaction of the retained binlog up to `end`, through sdl's own reader actor. */
export async function readTransactions(url: string, serverId: number, include: string[], end: BinlogEnd): Promise<SourceTransaction[]> {
  const txns: SourceTransaction[] = [];
  return new Promise((resolve, reject) => {
    const machine = setup({
      types: { events: {} as BinlogStreamEvent },
      actors: { binlogStream },
    }).createMachine({
      invoke: { src: 'binlogStream', input: { url, serverId, start: undefined, include } },
      on: {
        TXN: {
          actions: ({ event }) => {
            txns.push(event.txn);
            if (event.txn.end.file === end.file && event.txn.end.pos >= end.pos) {
              actor.stop();
              resolve(txns);
            }
          },
        },
        STREAM_ERROR: {
          actions: ({ event }) => {
            actor.stop();
            reject(new Error(event.error.message));
          },
        },
      },
    });
    const actor = createActor(machine);
    actor.start();
  });
}

/**
 * The batches sdl's batcher makes from these transactions when it is catching up (always
 * full: maxRows / maxBytes, at transaction boundaries), decoded exactly as sdl decodes them.
 */
export async function makeBatches(txns: SourceTransaction[], caps: DecodeCapabilities, limits = DEFAULTS.batch): Promise<Batch[]> {
  let parts: Part[] = txns.flatMap((t) => toParts(t, limits.maxRows));
  const decoder = new Decoder({ workers: 0, caps });
  const batches: Batch[] = [];
  try {
    while (parts.length > 0) {
      const { batch, rest } = takeBatch(parts, limits);
      parts = rest;
      const changes = await decoder.decode({ transactions: batch });
      batches.push(batchFrom(batch, changes));
    }
  } finally {
    await decoder.close();
  }
  return batches;
}
