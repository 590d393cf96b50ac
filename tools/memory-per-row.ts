/**
 * Measures what the reader's transactions really cost on the heap against the in-flight estimate
 * the batcher counts for them (`txn.bytes`). Run with `node --expose-gc dist/tools/memory-per-row.js`;
 * MEMORY_ROWS (default 100000) row changes of the bench workload, or one transaction of that many
 * rows with MEMORY_ONE_TXN=1. Prints one JSON line. A measurement tool, not a test.
 */
import { MongoClient } from 'mongodb';
import { FULL_CAPABILITIES } from '../src/decode/wire.js';
import { probeCapabilities } from '../src/mongo/capabilities.js';
import { makeBatches, readTransactions } from '../bench/prebuild.js';
import { binlogEnd } from '../bench/source.js';
import { BENCH_SCHEMA, MixedLoad } from '../bench/workload.js';
import { startStack } from '../test/support/stack.js';
import type { Batch, SourceTransaction } from '../src/pipeline/types.js';
import { rowChangeBytes } from '../src/pipeline/held-bytes.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
};
const ROWS = Number(process.env['MEMORY_ROWS'] ?? 100_000);
const ONE_TXN = process.env['MEMORY_ONE_TXN'] === '1';
/** MEMORY_SHAPE=binary: small VARBINARY/BLOB values (zongji hands them over as slices of the packet). */
const BINARY = process.env['MEMORY_SHAPE'] === 'binary';

const stack = await startStack();
const conn = await stack.mariadb.connect();
const client = new MongoClient(stack.mongo.url);
try {
  await conn.query(BENCH_SCHEMA);
  if (BINARY) {
    await conn.query('CREATE TABLE bench.bin (id INT PRIMARY KEY, h VARBINARY(16), b BLOB)');
    for (let i = 0; i < ROWS; i += 1000) {
      const ids = Array.from({ length: Math.min(1000, ROWS - i) }, (_, k) => i + k + 1);
      await conn.query(`INSERT INTO bench.bin VALUES ${ids.map(() => '(?,?,?)').join(',')}`, ids.flatMap((id) => [id, Buffer.from([id & 255, 1, 2, 3]), Buffer.alloc(20, id & 255)]));
    }
  } else if (ONE_TXN) {
    await conn.query('START TRANSACTION');
    for (let i = 0; i < ROWS; i += 1000) {
      const ids = Array.from({ length: Math.min(1000, ROWS - i) }, (_, k) => i + k + 1);
      await conn.query(`INSERT INTO bench.probe (id, note, n) VALUES ${ids.map(() => '(?,?,?)').join(',')}`, ids.flatMap((id) => [id, `note ${id}`, id]));
    }
    await conn.query('COMMIT');
  } else {
    await new MixedLoad(conn).load(ROWS);
  }
  const end = await binlogEnd(conn);
  const before = heap();
  let txns: SourceTransaction[] = await readTransactions(stack.mariadb.url, 4_100_001, ['bench'], end);
  const held = heap() - before;
  const rows = txns.reduce((n, t) => n + t.changes.length, 0);
  const estimate = txns.reduce((n, t) => n + t.bytes, 0);
  const counted = txns.reduce((n, t) => t.changes.reduce((m, c) => m + rowChangeBytes(c), n), 0);
  const caps = { ...FULL_CAPABILITIES, ...(await probeCapabilities(client, client.db('memprobe'))) };
  const beforeDecode = heap();
  let batches: Batch[] = await makeBatches(txns, { ...FULL_CAPABILITIES, decimal128: caps.decimal128, nestedArrays: caps.nestedArrays, dottedKeys: caps.dottedKeys });
  const decoded = heap() - beforeDecode;
  const nBatches = batches.length;
  const nTxns = txns.length;
  txns = [];
  batches = [];
  process.stdout.write(JSON.stringify({
    one_txn: ONE_TXN, shape: BINARY ? 'binary' : ONE_TXN ? 'narrow' : 'mixed', rows, transactions: nTxns, estimate_bytes: estimate, held_bytes: held,
    held_per_row: Math.round(held / rows), estimate_per_row: Math.round(estimate / rows), ratio: Math.round((held / estimate) * 100) / 100,
    counted_per_row: Math.round(counted / rows), counted_over_held: Math.round((counted / held) * 100) / 100,
    decoded_batches: nBatches, decoded_bytes_extra: decoded, decoded_per_row: Math.round(decoded / rows),
  }) + '\n');
} finally {
  await conn.end().catch(() => undefined);
  await client.close().catch(() => undefined);
  await stack.stop();
}
process.exit(0);
