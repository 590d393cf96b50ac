import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventObject } from 'xstate';
import { batchFrom, type BatcherEvent, type BatcherInput, batcherMachine, type DecodeInput } from '../../src/machines/batcher.js';
import type { Part } from '../../src/pipeline/batching.js';
import type { Batch, DecodedChange, SourceTransaction } from '../../src/pipeline/types.js';
import { assertFailuresCovered, controllable, errorOfEvent, invokeEvents, label, lastCall, model, type Path, serializer, startInSystem, walk } from '../support/machines.js';

interface Ctx {
  open: Part[];
  inFlight: number;
  throttled: boolean;
  flushRequested: boolean;
  taking: number;
}

// The decoder prepare built, as the supervisor spawns the batcher with it; the stand-in decode step never calls it.
const decoder = { decode: () => Promise.reject(new Error('the decode step is a stand-in')), decodeStaged: () => Promise.reject(new Error('the decode step is a stand-in')) };
const input: BatcherInput = { maxRows: 4, maxBytes: 1000, maxDelayMs: 100, maxInFlightBytes: 600, decoder };

/** A transaction of `rows` row changes (or a DDL when rows is 0), unique by `n`. */
function txn(n: number, rows: number, bytes: number): SourceTransaction {
  const changes = Array.from({ length: rows }, (_, i) => ({ op: 'insert' as const, schema: 0, before: null, after: { id: i }, id: `t${n}#${i}`, seq: `${n}:${i}` }));
  const t: SourceTransaction = { gtid: `0-1-${n}`, ts: n, end: { file: 'binlog.000001', pos: n }, schemas: [], changes, bytes };
  if (rows === 0) t.ddl = { db: 'app', statement: `ALTER TABLE t${n} ADD c INT` };
  return t;
}

// Rows within a batch, a DDL that must stand alone, and one larger than a batch (chunks).
const kinds = [
  { rows: 2, bytes: 300 },
  { rows: 0, bytes: 300 },
  { rows: 6, bytes: 600 },
];
const events: BatcherEvent[] = [
  ...kinds.map((k) => ({ type: 'TXN' as const, txn: txn(0, k.rows, k.bytes) })),
  { type: 'HEARTBEAT', pos: { file: 'binlog.000001', pos: 1 } },
  { type: 'COMMITTED', bytes: 300 },
  { type: 'FLUSH' },
];
const shape = (p: Part): string => `${p.ddl !== undefined ? 'ddl' : p.changes.length}${p.end === undefined ? '…' : ''}`;
const serialize = serializer<Ctx>((c) => ({ open: c.open.map(shape), inFlight: c.inFlight, throttled: c.throttled, flush: c.flushRequested, taking: c.taking }));
// One waiting part besides those being decoded, and a little over the in-flight limit, reach
// every combination that matters; heartbeats only on an empty pipeline keep the byte counts few.
const allowed = (c: Ctx, e: EventObject): boolean => {
  if (e.type === 'TXN') return c.open.length - c.taking < 1 && c.inFlight <= input.maxInFlightBytes;
  if (e.type === 'HEARTBEAT') return c.open.length === 0 && c.inFlight === 0;
  return e.type !== 'COMMITTED' || c.inFlight >= 300;
};
const batcherModel = model(batcherMachine, [...events, ...invokeEvents(batcherMachine)], serialize, allowed, input);
const paths: Path[] = batcherModel.getShortestPaths();

/** What the committer must eventually see, in source order: row ids, DDL statements, heartbeats. */
function tokensOfParts(parts: readonly Part[]): string[] {
  return parts.flatMap((p) => (p.ddl !== undefined ? [`ddl:${p.ddl.statement}`] : p.changes.length === 0 ? [] : p.changes.map((c) => c.id)));
}

async function walkBatcher(path: Path): Promise<void> {
  const decode = controllable<DecodeInput, Batch>();
  const sys = startInSystem(batcherMachine.provide({ actors: { decodeBatch: decode.logic } }), 'batcher', input);
  const sent: string[] = [];
  let n = 0;
  let lastType = '';
  let wasThrottled = false;
  let flushes = 0;
  let decodeError: unknown;
  const ctx = (): Ctx => (sys.sut.getSnapshot() as { context: Ctx }).context;
  try {
    await walk<BatcherEvent | EventObject>(
      batcherModel,
      path,
      (event) => {
        lastType = event.type;
        wasThrottled = ctx().throttled;
        if (event.type === 'TXN') {
          const t = (event as Extract<BatcherEvent, { type: 'TXN' }>).txn;
          const fresh = txn(++n, t.changes.length, t.bytes);
          sent.push(...tokensOfParts([{ ...fresh, end: fresh.end, ddl: fresh.ddl }]));
          sys.sut.send({ type: 'TXN', txn: fresh });
        } else if (event.type === 'HEARTBEAT') sys.sut.send({ type: 'HEARTBEAT', pos: { file: 'binlog.000001', pos: ++n } });
        else if (event.type === 'COMMITTED' || event.type === 'FLUSH') {
          if (event.type === 'FLUSH') flushes++;
          sys.sut.send(event);
        } else if (event.type.startsWith('xstate.after.')) sys.clock.increment(input.maxDelayMs);
        else if (event.type.startsWith('xstate.done.')) {
          const call = lastCall(decode.calls);
          const changes = call.input.parts.flatMap((p) => p.changes.map((c) => ({ id: c.id, seq: c.seq, op: c.op }) as DecodedChange));
          call.resolve(batchFrom(call.input.parts, changes));
        } else lastCall(decode.calls).reject((decodeError = errorOfEvent(event)));
      },
      (state) => {
        const real = sys.sut.getSnapshot() as { value: unknown; status: string; context: Ctx };
        const model = state.context as Ctx;
        assert.deepEqual(sys.errors, []);
        assert.deepEqual(real.value, state.value);
        assert.deepEqual(
          { inFlight: real.context.inFlight, throttled: real.context.throttled, flush: real.context.flushRequested, open: real.context.open.map(shape) },
          { inFlight: model.inFlight, throttled: model.throttled, flush: model.flushRequested, open: model.open.map(shape) },
        );
        // Nothing dropped, nothing reordered: what was sent = what the committer got + what is still open.
        const batches = (sys.received.committer as unknown as { batch: Batch }[]).map((e) => e.batch);
        const delivered = batches.flatMap((b) => [...b.changes.map((c) => c.id), ...b.ddl.map((d) => `ddl:${d.statement}`)]);
        assert.deepEqual([...delivered, ...tokensOfParts(real.context.open)], sent);
        for (const b of batches) {
          assert.ok(b.ddl.length === 0 || (b.ddl.length === 1 && b.rows === 0), `batch ${b.id} mixes a DDL with rows`);
          assert.ok(b.rows <= input.maxRows, `batch ${b.id} has ${b.rows} rows`);
        }
        if (real.value === 'flushing') assert.deepEqual(lastCall(decode.calls).input.parts, real.context.open.slice(0, real.context.taking));
        // The decode step also stages the batch ahead of the committer's apply (StageAhead), which keeps
        // staging order only if one decode runs at a time and batches go on in the order decodes started.
        const decodeStarts = decode.calls.map((c) => c.input.parts.flatMap((p) => p.changes.map((ch) => ch.id)).join(','));
        assert.deepEqual(batches.map((b) => b.changes.map((c) => c.id).join(',')), decodeStarts.slice(0, batches.length));
        assert.ok(decode.calls.length - batches.length <= 1, `${decode.calls.length - batches.length} decodes at once`);
        // Every batch is decoded with the decoder the batcher was spawned with (prepare's).
        for (const c of decode.calls) assert.equal(c.input.decoder, decoder);
        // Backpressure: PAUSE above the limit, RESUME at or below half, alternating.
        const toReader = sys.received.reader.map((e) => e.type);
        toReader.forEach((t, i) => assert.equal(t, i % 2 === 0 ? 'PAUSE' : 'RESUME'));
        assert.equal(real.context.throttled, toReader.at(-1) === 'PAUSE');
        if (lastType === 'TXN') assert.equal(real.context.throttled, wasThrottled || real.context.inFlight > input.maxInFlightBytes);
        if (lastType === 'COMMITTED') assert.equal(real.context.throttled, wasThrottled && real.context.inFlight > input.maxInFlightBytes / 2);
        const flushed = sys.received.supervisor.filter((e) => e.type === 'BATCHER_FLUSHED').length;
        if (real.value === 'idle') assert.equal(flushed > 0, flushes > 0, 'a FLUSH is answered once the batcher is empty');
        if (real.value === 'failed') {
          assert.equal(real.status, 'done');
          const failed = sys.received.supervisor.at(-1) as { type: string; error: { message: string } };
          assert.equal(failed.type, 'CHILD_FAILED');
          assert.match(failed.error.message, new RegExp((decodeError as Error).message));
        }
      },
    );
  } finally {
    sys.root.stop();
  }
}

describe('batcher machine, model-based', () => {
  it('has a known number of paths, so a new transition cannot slip in untested', () => {
    assert.equal(paths.length, 568);
  });

  it('walks every onError on some path', () => {
    assertFailuresCovered(batcherMachine, [], paths);
  });

  for (const path of paths) {
    it(label(path), () => walkBatcher(path));
  }
});
