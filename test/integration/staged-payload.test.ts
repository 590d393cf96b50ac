import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BSON, MongoClient } from 'mongodb';
import { binlogEnd } from '../../bench/source.js';
import { readTransactions } from '../../bench/prebuild.js';
import { Decoder } from '../../src/actors/decoder-pool.js';
import type { StagedPayload } from '../../src/decode/wire.js';
import { decodeBatch, encodeBatch } from '../../src/mongo/batch-codec.js';
import { eventDoc, mirrorDoc } from '../../src/mongo/apply.js';
import { probeCapabilities } from '../../src/mongo/capabilities.js';
import { ensureIndexes } from '../../src/mongo/layout.js';
import { PART_BYTES } from '../../src/mongo/payload.js';
import { scopeBatch } from '../../src/mongo/scope.js';
import { Staging } from '../../src/mongo/staging.js';
import { batchFrom, takeBatch, toParts, type Part } from '../../src/pipeline/batching.js';
import type { Batch, DecodedChange, SourceTransaction } from '../../src/pipeline/types.js';
import { COLUMN_TYPES, columnType, KEYABLE_TYPES } from '../support/gen/columns.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * The staging payload is encoded by the decode task (in the pool worker, or inline with
 * `workers: 0`), not by the main thread that applies the batch. Recovery re-applies what the
 * payload decodes to, so it must be exactly what the main thread applied: checked here on the
 * generator's whole type catalog as MariaDB writes it to the binlog, as BSON bytes (what the
 * driver sends for the event and mirror documents), after a round trip through real staging.
 */
describe('staging payload built by the decode task', () => {
  let stack: Stack;
  let client: MongoClient;
  let txns: SourceTransaction[];
  const pooled = new Decoder({ workers: 1, caps: { decimal128: true, nestedArrays: true, dottedKeys: true } });
  const inline = new Decoder({ workers: 0, caps: { decimal128: true, nestedArrays: true, dottedKeys: true } });
  const col = (id: string): string => `c_${id}`;

  before(async () => {
    stack = await startStack();
    client = new MongoClient(stack.mongo.url, { serverSelectionTimeoutMS: 3000 });
    const conn = await stack.mariadb.connect();
    try {
      await conn.query('CREATE DATABASE sp');
      await conn.query("SET time_zone = '+00:00', SESSION sql_mode = ''");
      // Every type as a value column (with a LONGBLOB big enough that the worker moves its result).
      await conn.query(`CREATE TABLE sp.vals (id INT PRIMARY KEY, big LONGBLOB, ${COLUMN_TYPES.map((t) => `${col(t.id)} ${t.sql} NULL`).join(', ')}) CHARSET utf8mb4`);
      const n = Math.max(...COLUMN_TYPES.map((t) => t.values.length));
      for (let i = 0; i < n; i++) {
        const vals = COLUMN_TYPES.map((t) => t.values[i] ?? 'NULL');
        await conn.query(`INSERT INTO sp.vals VALUES (${i}, ${i === 0 ? 'REPEAT(X\'00FF\', 150000)' : 'NULL'}, ${vals.join(', ')})`);
      }
      // Before and after images, a key change and a delete, in one transaction.
      await conn.query('BEGIN');
      await conn.query(`UPDATE sp.vals SET ${COLUMN_TYPES.map((t) => `${col(t.id)} = ${t.values.at(-1) ?? 'NULL'}`).join(', ')} WHERE id = 1`);
      await conn.query('UPDATE sp.vals SET id = 100 WHERE id = 2');
      await conn.query('DELETE FROM sp.vals WHERE id = 3');
      await conn.query('COMMIT');
      // Every keyable type as a mirror `_id`, and one composite key of several.
      for (const t of KEYABLE_TYPES) {
        await conn.query(`CREATE TABLE sp.k_${t.id} (k ${t.sql} NOT NULL PRIMARY KEY, v INT) CHARSET utf8mb4`);
        await conn.query(`INSERT INTO sp.k_${t.id} VALUES ${t.keys.map((k, i) => `(${k}, ${i})`).join(', ')}`);
      }
      const types = ['bigintu', 'decimal65_30', 'datetime6', 'varchar24_latin1', 'varchar24_binary', 'double'].map(columnType);
      await conn.query(`CREATE TABLE sp.composite (${types.map((t) => `${col(t.id)} ${t.sql} NOT NULL`).join(', ')}, v INT, PRIMARY KEY (${types.map((t) => col(t.id)).join(', ')})) CHARSET utf8mb4`);
      await conn.query(`INSERT INTO sp.composite VALUES ${[0, 1, 2].map((i) => `(${types.map((t) => t.keys[i]).join(', ')}, ${i})`).join(', ')}`);
      txns = await readTransactions(stack.mariadb.url, 4_100_001, ['sp'], await binlogEnd(conn));
    } finally {
      await conn.end();
    }
  });
  after(async () => {
    await Promise.all([pooled.close(), inline.close()]);
    await client?.close();
    await stack?.stop();
  });

  /** The stream's batches of these transactions (small ones, so there are several). */
  function partsOfBatches(): Part[][] {
    let open = txns.flatMap((t) => toParts(t, 20));
    const out: Part[][] = [];
    while (open.length > 0) {
      const { batch, rest } = takeBatch(open, { maxRows: 20, maxBytes: 4 * 1024 * 1024 });
      out.push(batch);
      open = rest;
    }
    return out;
  }

  const bson = (doc: unknown): Buffer => Buffer.from(BSON.serialize({ v: doc }));

  /** What the driver would send for this change: its event document, its mirror document, its old key. */
  function written(c: DecodedChange): Buffer[] {
    return [bson(eventDoc(c)), bson(c.key === null ? null : mirrorDoc(c.key, c)), bson(c.oldKey ?? null)];
  }

  function assertSameAsApplied(fromPayload: Batch, applied: Batch): void {
    assert.equal(fromPayload.id, applied.id);
    assert.deepEqual(fromPayload.end, applied.end);
    assert.equal(fromPayload.lastTs, applied.lastTs);
    assert.equal(fromPayload.rows, applied.rows);
    assert.equal(fromPayload.bytes, applied.bytes);
    // The reader's reading of each DDL goes along (recovery requests the same online copies); undefined fields are not stored.
    assert.deepEqual(fromPayload.ddl, JSON.parse(JSON.stringify(applied.ddl)));
    assert.equal(fromPayload.changes.length, applied.changes.length);
    applied.changes.forEach((c, i) => {
      const p = fromPayload.changes[i];
      assert.ok(p !== undefined);
      assert.deepEqual(written(p), written(c), `change ${c.id} (${c.db}.${c.table} ${c.op}) is written differently from its staged copy`);
    });
  }

  it('decodes to exactly what the main thread applies, for every column type, pooled and inline', async () => {
    const batches = partsOfBatches();
    const kinds = new Set(txns.flatMap((t) => t.schemas.flatMap((s) => s.columns.map((c) => `${c.kind}${c.charset === undefined ? '' : `/${c.charset}`}`))));
    for (const k of ['bigint', 'decimal', 'datetime', 'string/latin1', 'json', 'binary', 'float', 'geometry', 'set', 'time', 'date', 'int']) assert.ok(kinds.has(k), `the workload has ${k} columns`);
    let changes = 0;
    let moved = false;
    for (const parts of batches) {
      const results: StagedPayload[] = [];
      for (const decoder of [pooled, inline]) {
        const { changes: decoded, payload } = await decoder.decodeStaged(parts, { pipeline: 'main', partBytes: 1000 });
        const applied = scopeBatch(batchFrom(parts, decoded), 'main');
        assert.equal(payload.batch, applied.id);
        // The very bytes the main thread would have encoded itself.
        assert.ok(Buffer.concat(payload.parts).equals(Buffer.concat(encodeBatch(applied, 1000))), `payload of ${applied.id} differs from the main thread's encoding`);
        for (const p of payload.parts) assert.ok(p.byteLength <= 1000 && p.byteOffset === 0 && p.byteLength === p.buffer.byteLength, 'each part owns its buffer');
        assertSameAsApplied(decodeBatch(payload.parts), applied);
        results.push(payload);
        if (decoder === inline) changes += applied.changes.length;
        moved ||= decoded.some((c) => c.after?.['big'] !== undefined && c.after['big'] !== null);
      }
      const [a, b] = results;
      assert.ok(a !== undefined && b !== undefined && Buffer.concat(a.parts).equals(Buffer.concat(b.parts)), 'pool and inline payloads are the same bytes');
    }
    assert.ok(moved, 'a batch large enough to be moved back from the worker was decoded');
    assert.equal(changes, txns.reduce((n, t) => n + t.changes.length, 0));
    assert.ok(batches.length > 3);
  });

  it('staging writes the task-built payload, and recovery reads back exactly what was applied', async () => {
    const db = client.db('sdl_sp');
    await probeCapabilities(client, client.db('sdl_sp_probe'));
    await ensureIndexes(db);
    const staging = new Staging(db, 'main', { ttl: false });
    const applied: Batch[] = [];
    for (const parts of partsOfBatches()) {
      const { changes, payload } = await pooled.decodeStaged(parts, { pipeline: 'main', partBytes: PART_BYTES });
      const batch = scopeBatch(batchFrom(parts, changes), 'main');
      const staged = await staging.stageBatch(batch, 'pending', payload);
      assert.equal(staged.bytes, payload.parts.reduce((n, p) => n + p.byteLength, 0));
      applied.push(batch);
    }
    const pending = await staging.listPending();
    assert.equal(pending.length, applied.length);
    pending.forEach((p, i) => {
      const a = applied[i];
      assert.ok(a !== undefined);
      assertSameAsApplied(p, a);
    });
  });

  it('a payload that does not encode this batch (another batch, another part size) is not written: the batch is encoded again', async () => {
    const db = client.db('sdl_sp2');
    await ensureIndexes(db);
    const staging = new Staging(db, 'main', { ttl: false });
    const [first, second] = partsOfBatches();
    assert.ok(first !== undefined && second !== undefined);
    const a = await inline.decodeStaged(first, { pipeline: 'main', partBytes: PART_BYTES });
    const b = await inline.decodeStaged(second, { pipeline: 'main', partBytes: 1000 });
    const batchA = scopeBatch(batchFrom(first, a.changes), 'main');
    const batchB = scopeBatch(batchFrom(second, b.changes), 'main');
    await staging.stageBatch(batchA, 'pending', b.payload);
    await staging.stageBatch(batchB, 'pending', b.payload);
    const [pa, pb] = await staging.listPending();
    assert.ok(pa !== undefined && pb !== undefined);
    assertSameAsApplied(pa, batchA);
    assertSameAsApplied(pb, batchB);
  });
});
