import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EventObject, fromCallback } from 'xstate';
import type { BinlogStreamCommand, BinlogStreamEvent, BinlogStreamInput } from '../../src/actors/binlog-stream.js';
import { driverCode, type ErrorInfo } from '../../src/errors.js';
import { type ReaderEvent, readerMachine, type ReaderInput } from '../../src/machines/reader.js';
import type { SourcePosition, SourceTransaction } from '../../src/pipeline/types.js';
import { assertFailuresCovered, label, model, type Path, serializer, startInSystem, walk } from '../support/machines.js';

interface Ctx {
  throttled: boolean;
  attempt: number;
  position: SourcePosition | undefined;
}

const transient: ErrorInfo = { code: driverCode('ECONNRESET'), errorClass: 'transient', message: 'connection reset' };
const permanent: ErrorInfo = { code: 'BINLOG_PURGED', errorClass: 'permanent', message: 'binlog purged' };
const start: SourcePosition = { file: 'binlog.000001', pos: 4 };
const input: ReaderInput = { url: 'mysql://x', serverId: 1, include: [], start };

function txn(pos: number): SourceTransaction {
  return { gtid: `0-1-${pos}`, ts: 0, end: { file: 'binlog.000001', pos }, schemas: [], changes: [], bytes: 10 };
}

const events: ReaderEvent[] = [
  { type: 'CONNECTED', server: 'mariadb' },
  { type: 'TXN', txn: txn(100) },
  { type: 'HEARTBEAT', pos: { file: 'binlog.000001', pos: 100 } },
  { type: 'STREAM_ERROR', error: transient },
  { type: 'STREAM_ERROR', error: permanent },
  { type: 'PAUSE' },
  { type: 'RESUME' },
  { type: 'STOP' },
];
// The position is left out: which transaction came last changes where a reconnect resumes, which the walk checks against the real actor.
const readerModel = model(
  readerMachine,
  events,
  serializer<Ctx>((c) => ({ throttled: c.throttled, retrying: c.attempt > 0, started: c.position !== start })), undefined, input);
const paths: Path[] = readerModel.getShortestPaths();

interface Stream {
  input: BinlogStreamInput;
  sendBack: (e: BinlogStreamEvent) => void;
  commands: BinlogStreamCommand['type'][];
  stopped: boolean;
  /** The last position the reader had handed on when this connection was opened. */
  handed: SourcePosition | undefined;
}

async function walkReader(path: Path): Promise<void> {
  const streams: Stream[] = [];
  let handed: SourcePosition | undefined = start;
  const binlogStream = fromCallback<BinlogStreamCommand, BinlogStreamInput, BinlogStreamEvent>(({ input: i, sendBack, receive }) => {
    const s: Stream = { input: i, sendBack, commands: [], stopped: false, handed };
    streams.push(s);
    receive((c) => s.commands.push(c.type));
    return () => {
      s.stopped = true;
    };
  });
  const sys = startInSystem(readerMachine.provide({ actors: { binlogStream } }), 'reader', input);
  let pos = 100;
  let lastError: ErrorInfo | undefined;
  const current = (): Stream => {
    const s = streams.at(-1);
    assert.ok(s !== undefined && !s.stopped, 'no open binlog stream');
    return s;
  };
  try {
    await walk<ReaderEvent | EventObject>(
      readerModel,
      path,
      (event) => {
        switch (event.type) {
          case 'CONNECTED':
            current().sendBack({ type: 'CONNECTED', server: 'mariadb' });
            break;
          case 'TXN':
            current().sendBack({ type: 'TXN', txn: txn((pos += 10)) });
            handed = { file: 'binlog.000001', pos };
            break;
          case 'HEARTBEAT':
            current().sendBack({ type: 'HEARTBEAT', pos: (handed = { file: 'binlog.000001', pos: (pos += 10) }) });
            break;
          case 'STREAM_ERROR':
            lastError = (event as Extract<ReaderEvent, { type: 'STREAM_ERROR' }>).error;
            current().sendBack({ type: 'STREAM_ERROR', error: lastError });
            break;
          case 'PAUSE':
          case 'RESUME':
          case 'STOP':
            sys.sut.send(event);
            break;
          default:
            assert.match(event.type, /^xstate\.after\./);
            sys.clock.increment(30_000);
        }
      },
      (state) => {
        const real = sys.sut.getSnapshot() as { value: unknown; status: string; context: Ctx };
        assert.deepEqual(sys.errors, []);
        assert.deepEqual(real.value, state.value);
        assert.equal(real.context.throttled, (state.context as Ctx).throttled);
        // Every connection resumes right after the last position handed on, so nothing is skipped or read twice.
        for (const s of streams) assert.deepEqual(s.input.start, s.handed);
        const forwarded = (sys.received.batcher as ReaderEvent[]).map((e) => (e.type === 'TXN' ? e.txn.end : e.type === 'HEARTBEAT' ? e.pos : start));
        assert.deepEqual(forwarded.at(-1) ?? start, handed);
        assert.deepEqual(forwarded.map((p) => p.pos), [...forwarded.map((p) => p.pos)].sort((a, b) => a - b));
        const online = typeof real.value === 'object';
        assert.equal(streams.filter((s) => !s.stopped).length, online ? 1 : 0, 'exactly one connection while online');
        if (online) {
          const last = current().commands.at(-1);
          assert.equal(last === 'PAUSE', JSON.stringify(real.value) === '{"online":"paused"}', `stream told ${String(last)}`);
        }
        const toSupervisor = sys.received.supervisor.at(-1);
        if (real.value === 'backoff') assert.deepEqual(toSupervisor, { type: 'CHILD_DEGRADED', child: 'reader', error: lastError });
        if (real.value === 'failed') assert.deepEqual(toSupervisor, { type: 'CHILD_FAILED', child: 'reader', error: lastError });
        if (real.value === 'failed' || real.value === 'stopped') assert.equal(real.status, 'done');
      },
    );
  } finally {
    sys.root.stop();
  }
}

describe('reader machine, model-based', () => {
  it('has a known number of paths, so a new transition cannot slip in untested', () => {
    assert.equal(paths.length, 65);
  });

  it('walks every STREAM_ERROR transition on some path', () => {
    assertFailuresCovered(readerMachine, ['STREAM_ERROR'], paths);
  });

  for (const path of paths) {
    it(label(path), () => walkReader(path));
  }
});
