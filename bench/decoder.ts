/**
 * Decoder throughput: inline vs pool, and whether moving byte arrays back from the worker
 * matters. One JSON line per case. `node dist/bench/decoder.js [rows] [blobBytes]`.
 */
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { Decoder } from '../src/actors/decoder-pool.js';
import { rehydrate } from '../src/decode/rehydrate.js';
import type { DecodeResult, DecodeTask } from '../src/decode/wire.js';
import type { RowChange, TableSchema } from '../src/pipeline/types.js';

const caps = { decimal128: true, nestedArrays: true, dottedKeys: true };
const rows = Number(process.argv[2] ?? 2000);
const blobBytes = Number(process.argv[3] ?? 0);
const batches = 20;

const schema: TableSchema = {
  db: 'b',
  table: 't',
  key: ['id'],
  columns: [
    { name: 'id', kind: 'bigint', unsigned: false, fsp: 0 },
    { name: 'n', kind: 'int', unsigned: false, fsp: 0 },
    { name: 'price', kind: 'decimal', unsigned: false, fsp: 0 },
    { name: 'ratio', kind: 'float', unsigned: false, fsp: 0 },
    { name: 'name', kind: 'string', unsigned: false, fsp: 0 },
    { name: 'at', kind: 'datetime', unsigned: false, fsp: 6 },
    { name: 'doc', kind: 'json', unsigned: false, fsp: 0 },
    { name: 'blob', kind: 'binary', unsigned: false, fsp: 0 },
  ],
};

function task(): DecodeTask {
  const changes: RowChange[] = [];
  for (let i = 0; i < rows; i++) {
    const after = {
      id: String(1e12 + i),
      n: i,
      price: `${i}.25`,
      ratio: i / 3,
      name: `item ${i}`,
      at: '2024-01-02 03:04:05.123456',
      doc: `{"i":${i},"tags":["a","b"]}`,
      blob: Buffer.alloc(blobBytes, i & 0xff),
    };
    changes.push({ op: 'insert', schema: 0, before: null, after, id: `x#${i}`, seq: String(i) });
  }
  return { transactions: [{ gtid: '0-1-1', ts: 0, schemas: [schema], changes }], caps };
}

async function time(name: string, fn: () => Promise<unknown>, perCall = 1): Promise<void> {
  await fn(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) await fn();
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ case: name, rows, blobBytes, batches, ms: Math.round(ms), rowsPerSec: Math.round((rows * batches * perCall * 1000) / ms) }));
}

const t = task();
const worker = fileURLToPath(new URL('../src/workers/decode-batch.js', import.meta.url));
const inline = new Decoder({ workers: 0, caps });
const pooled = new Decoder({ workers: 1, caps });
const copying = new Piscina<DecodeTask, DecodeResult>({ filename: worker, minThreads: 1, maxThreads: 1 });
await time('inline', () => inline.decode(t));
await time('pool, moved results', () => pooled.decode(t));
await time('pool, copied results', async () => rehydrate(await copying.run(t)));
const four = new Decoder({ workers: 4, caps });
await time('pool x4, 4 batches in flight', () => Promise.all([four.decode(t), four.decode(t), four.decode(t), four.decode(t)]).then(() => undefined), 4);
await Promise.all([inline.close(), pooled.close(), copying.close(), four.close()]);
