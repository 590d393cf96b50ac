import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Binary, Decimal128, Double, Long } from 'mongodb';
import { Decoder, decoderWorkers } from '../../src/actors/decoder-pool.js';
import type { DecodeTask } from '../../src/decode/wire.js';
import type { RowChange, TableSchema } from '../../src/pipeline/types.js';

const caps = { decimal128: true, nestedArrays: true, dottedKeys: true };

const schema: TableSchema = {
  db: 'shop',
  table: 'items',
  key: ['id', 'region'],
  columns: [
    { name: 'id', kind: 'bigint', unsigned: false, fsp: 0 },
    { name: 'region', kind: 'int', unsigned: true, fsp: 0 },
    { name: 'umax', kind: 'bigint', unsigned: true, fsp: 0 },
    { name: 'price', kind: 'decimal', unsigned: false, fsp: 0 },
    { name: 'ratio', kind: 'float', unsigned: false, fsp: 0 },
    { name: 'blob', kind: 'binary', unsigned: false, fsp: 0 },
    { name: 'at', kind: 'datetime', unsigned: false, fsp: 6 },
    { name: 'doc', kind: 'json', unsigned: false, fsp: 0 },
  ],
};

const bigBlob = Buffer.alloc(256 * 1024, 7);

function batch(): Pick<DecodeTask, 'transactions'> {
  const row = {
    id: '-9223372036854775808',
    region: 4294967295,
    umax: '18446744073709551615',
    price: '12345678901234567890.0123456789',
    ratio: 1,
    blob: Buffer.from([0x00, 0xff, 0x10]),
    at: '2024-01-02 03:04:05.123456',
    doc: '{"a":[1,2,{"b":null}]}',
  };
  const changes: RowChange[] = [
    { op: 'insert', schema: 0, before: null, after: row, id: '0-1-9#0', seq: '1:0' },
    { op: 'update', schema: 0, before: row, after: { ...row, id: '5', blob: bigBlob }, id: '0-1-9#1', seq: '1:1' },
  ];
  return { transactions: [{ gtid: '0-1-9', ts: 1_700_000_000_000, schemas: [schema], changes }] };
}

describe('Decoder pool', () => {
  let pooled: Decoder;
  let inline: Decoder;
  before(() => {
    pooled = new Decoder({ workers: 1, caps });
    inline = new Decoder({ workers: 0, caps });
  });
  after(async () => {
    await Promise.all([pooled.close(), inline.close()]);
  });

  it('a real worker task returns values rehydrated into real BSON classes with exact contents', async () => {
    const [ins, upd] = await pooled.decode(batch());
    const a = ins?.after;
    assert.ok(a);
    assert.ok(a['id'] instanceof Long);
    assert.equal(a['id'].toString(), '-9223372036854775808');
    assert.ok(a['region'] instanceof Long);
    assert.equal(a['region'].toString(), '4294967295');
    assert.ok(a['umax'] instanceof Decimal128);
    assert.equal(a['umax'].toString(), '18446744073709551615');
    assert.ok(a['price'] instanceof Decimal128);
    assert.equal(a['price'].toString(), '12345678901234567890.0123456789');
    assert.ok(a['ratio'] instanceof Double);
    assert.equal(a['ratio'].value, 1);
    assert.ok(a['blob'] instanceof Binary);
    assert.deepEqual([...a['blob'].value()], [0x00, 0xff, 0x10]);
    assert.deepEqual(a['at'], new Date('2024-01-02T03:04:05.123Z'));
    assert.deepEqual(ins?.raw, { at: '2024-01-02 03:04:05.123456' });
    assert.deepEqual(a['doc'], { a: [1, 2, { b: null }] });
    // Composite key built from the rehydrated values, in key order.
    const key = ins?.key as { id: unknown; region: unknown };
    assert.deepEqual(Object.keys(key), ['id', 'region']);
    assert.ok(key.id instanceof Long);
    // The 256 KiB blob crossed back by transfer: intact.
    const big = upd?.after?.['blob'];
    assert.ok(big instanceof Binary);
    assert.equal(big.length(), bigBlob.length);
    assert.ok(Buffer.from(big.value()).equals(bigBlob));
    assert.equal((upd?.oldKey as { id: Long }).id.toString(), '-9223372036854775808');
    assert.equal((upd?.key as { id: Long }).id.toString(), '5');
  });

  it('workers: auto is one worker with a second CPU and inline decoding on one; a number is taken as set', () => {
    assert.equal(decoderWorkers('auto', 1).workers, 0);
    assert.equal(decoderWorkers('auto', 2).workers, 1);
    assert.equal(decoderWorkers('auto', 16).workers, 1);
    assert.equal(decoderWorkers(3, 1).workers, 3);
    assert.match(decoderWorkers('auto', 1).why, /auto → 0/);
  });

  it('workers: 0 runs the same task inline with deep-equal output', async () => {
    const [fromPool, fromInline] = await Promise.all([pooled.decode(batch()), inline.decode(batch())]);
    assert.deepStrictEqual(fromPool, fromInline);
    assert.equal(fromPool.length, 2);
  });

  it('the caller keeps its input buffers: nothing is transferred out of the main thread', async () => {
    const task = batch();
    await pooled.decode(task);
    assert.equal(bigBlob.length, 256 * 1024);
    assert.equal(bigBlob[0], 7);
  });

  it("a failing task rejects with the task's error", async () => {
    const bad = batch();
    const change = bad.transactions[0]?.changes[0];
    assert.ok(change?.after);
    change.after['blob'] = { x: 1, y: 2 };
    await assert.rejects(pooled.decode(bad), /column blob \(binary\): unexpected value/);
    await assert.rejects(inline.decode(bad), /column blob \(binary\): unexpected value/);
    // The pool still works after a failed task.
    assert.equal((await pooled.decode(batch())).length, 2);
  });

  it('close() waits for a running task; decode after close is refused', async () => {
    const d = new Decoder({ workers: 1, caps });
    const running = d.decode(batch());
    await d.close();
    assert.equal((await running).length, 2);
    await assert.rejects(d.decode(batch()), /closed/);
  });
});
