/**
 * Main-thread time per batch of the stream's decode step, the staging payload encoded on the main
 * thread (decode, then encodeBatch as Staging.stageBatch did) against encoded by the decode task
 * (Decoder.decodeStaged), pool and inline, interleaved. Main-thread busy time is the event loop's
 * active time (performance.eventLoopUtilization), so a worker's CPU is not counted.
 * Also what stays on the main thread per batch: building the event and mirror documents, and
 * the driver's BSON serialization of them (timed here as BSON.serialize of each).
 * `node dist/bench/main-thread.js [rows per batch] [rounds]`; one JSON line per case.
 */
import { performance } from 'node:perf_hooks';
import { Decoder } from '../src/actors/decoder-pool.js';
import { BSON } from 'mongodb';
import { eventDoc, mirrorDoc } from '../src/mongo/apply.js';
import { encodeBatch } from '../src/mongo/batch-codec.js';
import { PART_BYTES } from '../src/mongo/payload.js';
import { scopeBatch } from '../src/mongo/scope.js';
import { batchFrom, type Part } from '../src/pipeline/batching.js';
import type { RawRow, RowChange, TableSchema } from '../src/pipeline/types.js';

const caps = { decimal128: true, nestedArrays: true, dottedKeys: true };
const rows = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 5);
const batches = 10;

const col = (name: string, kind: TableSchema['columns'][number]['kind'], fsp = 0): TableSchema['columns'][number] => ({ name, kind, unsigned: false, fsp });
const shapes: Record<string, { schema: TableSchema; row: (i: number) => RawRow }> = {
  // Like bench/workload.ts: short rows of scalars.
  mixed: {
    schema: { db: 'b', table: 'm', key: ['id'], columns: [col('id', 'bigint'), col('n', 'int'), col('price', 'decimal'), col('ratio', 'float'), col('name', 'string'), col('at', 'datetime', 6)] },
    row: (i) => ({ id: String(1e12 + i), n: i, price: `${i}.25`, ratio: i / 3, name: `item ${i}`, at: '2024-01-02 03:04:05.123456' }),
  },
  // Like bench/wide-workload.ts: about 4 KB, JSON documents and byte columns.
  wide: {
    schema: { db: 'b', table: 'w', key: ['id'], columns: [col('id', 'int'), col('title', 'string'), col('price', 'decimal'), col('updated', 'datetime', 6), col('attrs', 'json'), col('body', 'json'), col('payload', 'binary'), col('thumb', 'binary')] },
    row: (i) => ({
      id: i,
      title: `document ${i} — wide row`,
      price: `${i}.99`,
      updated: '2024-05-01 10:11:12.123456',
      attrs: JSON.stringify({ color: 'red', size: i % 40, flags: { a: true, b: null } }),
      body: JSON.stringify({ id: i, items: Array.from({ length: 12 }, (_, k) => ({ sku: `SKU-${i}-${k}`, qty: k, price: k * 1.5, tags: ['red', 'blue'], note: `line ${k} of document ${i} ✓` })) }),
      payload: Buffer.alloc(1500, i & 0xff),
      thumb: Buffer.alloc(400, 7),
    }),
  },
};

function parts(shape: (typeof shapes)[string]): Part[] {
  const changes: RowChange[] = Array.from({ length: rows }, (_, i) => ({ op: 'insert', schema: 0, before: null, after: shape.row(i), id: `0-1-1#${i}`, seq: String(i).padStart(12, '0') }));
  return [{ gtid: '0-1-1', ts: 1_700_000_000_000, schemas: [shape.schema], changes, end: { file: 'binlog.000001', pos: 4 }, ddl: undefined, bytes: rows * 4000 }];
}

const plan = { pipeline: 'main', partBytes: PART_BYTES };
/** Before: the decode step, then Staging.stageBatch's encoding on the main thread. */
const onMain = async (d: Decoder, p: Part[]): Promise<void> => {
  encodeBatch(scopeBatch(batchFrom(p, await d.decode({ transactions: p })), 'main'));
};
/** After: the decode task encodes it. */
const inTask = async (d: Decoder, p: Part[]): Promise<void> => {
  const { changes } = await d.decodeStaged(p, plan);
  batchFrom(p, changes);
};

async function measure(fn: () => Promise<void>): Promise<{ activeMs: number; wallMs: number }> {
  await fn(); // warm-up
  const elu = performance.eventLoopUtilization();
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) await fn();
  const d = performance.eventLoopUtilization(elu);
  return { activeMs: d.active / batches, wallMs: (performance.now() - t0) / batches };
}

const decoders = { inline: new Decoder({ workers: 0, caps }), pool: new Decoder({ workers: 1, caps }) };
for (let r = 0; r < rounds; r++) {
  for (const [shapeName, shape] of Object.entries(shapes)) {
    const p = parts(shape);
    for (const [dName, d] of Object.entries(decoders)) {
      for (const [how, fn] of [['payload on main', onMain], ['payload in task', inTask]] as const) {
        const m = await measure(() => fn(d, p));
        console.log(JSON.stringify({ round: r, shape: shapeName, decoder: dName, how, rows, mainMsPerBatch: Math.round(m.activeMs * 10) / 10, wallMsPerBatch: Math.round(m.wallMs * 10) / 10 }));
      }
    }
  }
}
const r1 = (n: number): number => Math.round(n * 10) / 10;
for (const [shapeName, shape] of Object.entries(shapes)) {
  const { changes } = await decoders.inline.decodeStaged(parts(shape), plan);
  const t0 = performance.now();
  const docs = changes.flatMap((c) => [eventDoc(c), mirrorDoc(c.key, c)]);
  const t1 = performance.now();
  for (const d of docs) BSON.serialize(d, { ignoreUndefined: true });
  console.log(JSON.stringify({ shape: shapeName, rows, buildDocsMs: r1(t1 - t0), serializeDocsMs: r1(performance.now() - t1) }));
}
await Promise.all([decoders.inline.close(), decoders.pool.close()]);
