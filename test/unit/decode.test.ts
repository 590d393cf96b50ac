import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Binary, Decimal128, Double, Long } from 'mongodb';
import { decodeBatch } from '../../src/decode/decode-changes.js';
import { hashRow } from '../../src/decode/hash.js';
import { hasUnsafeInteger } from '../../src/decode/json.js';
import { mapValue } from '../../src/decode/map-value.js';
import { rehydrate } from '../../src/decode/rehydrate.js';
import { FULL_CAPABILITIES, type DecodeCapabilities } from '../../src/decode/wire.js';
import type { ColumnKind, ColumnSpec, DecodedChange, RawRow, RowChange, TableSchema } from '../../src/pipeline/types.js';

const FERRET: DecodeCapabilities = { decimal128: false, nestedArrays: false, dottedKeys: false };

function col(name: string, kind: ColumnKind, unsigned = false, fsp = 0): ColumnSpec {
  return { name, kind, unsigned, fsp };
}

function schemaOf(columns: ColumnSpec[], key: string[] = [columns[0]?.name ?? 'id']): TableSchema {
  return { db: 'shop', table: 'items', columns, key };
}

function run(schema: TableSchema, changes: Array<Partial<RowChange> & Pick<RowChange, 'op'>>, caps = FULL_CAPABILITIES): DecodedChange[] {
  const full = changes.map((c, i): RowChange => ({ schema: 0, before: null, after: null, id: `0-1-7#${i}`, seq: `1:${i}`, ...c }));
  return rehydrate(decodeBatch({ transactions: [{ gtid: '0-1-7', ts: 1_700_000_000_000, schemas: [schema], changes: full }], caps }));
}

/** Decodes one inserted row and returns the after image and raw. */
function insert(columns: ColumnSpec[], after: RawRow, caps = FULL_CAPABILITIES): DecodedChange {
  const [change] = run(schemaOf([col('id', 'int'), ...columns]), [{ op: 'insert', after: { id: 1, ...after } }], caps);
  assert.ok(change?.after);
  return change;
}

function value(columns: ColumnSpec[], after: RawRow, caps = FULL_CAPABILITIES): unknown {
  const name = columns[0]?.name ?? '';
  return insert(columns, after, caps).after?.[name];
}

describe('value mapping (raw forms as zongji delivers them with exact options)', () => {
  it('int: numbers and numeric strings → plain Int32 numbers; INT UNSIGNED above 2^31−1 → Long', () => {
    assert.equal(value([col('v', 'int')], { v: -5 }), -5);
    assert.equal(value([col('v', 'int')], { v: '-8388608' }), -8388608);
    assert.equal(value([col('v', 'int')], { v: 2024 }), 2024); // YEAR
    const big = value([col('v', 'int', true)], { v: 4294967295 });
    assert.ok(big instanceof Long);
    assert.equal(big.toString(), '4294967295');
    assert.throws(() => value([col('v', 'int')], { v: 1.5 }), /column v \(int\)/);
  });

  it('bigint: signed min → Long, unsigned max → exact Decimal128, small numbers → Long', () => {
    const min = value([col('v', 'bigint')], { v: '-9223372036854775808' });
    assert.ok(min instanceof Long);
    assert.equal(min.toString(), '-9223372036854775808');
    const small = value([col('v', 'bigint')], { v: 42 });
    assert.ok(small instanceof Long);
    assert.equal(small.toNumber(), 42);
    const umax = value([col('v', 'bigint', true)], { v: '18446744073709551615' });
    assert.ok(umax instanceof Decimal128);
    assert.equal(umax.toString(), '18446744073709551615');
    const i63 = value([col('v', 'bigint', true)], { v: '9223372036854775807' });
    assert.ok(i63 instanceof Long);
    assert.equal(i63.toString(), '9223372036854775807');
    // Without Decimal128 on the server: the exact text.
    assert.equal(value([col('v', 'bigint', true)], { v: '18446744073709551615' }, FERRET), '18446744073709551615');
    // A number past 2^53 has lost digits already: refuse it instead of storing a wrong value.
    assert.throws(() => value([col('v', 'bigint')], { v: 2 ** 60 }), /unexpected value/);
  });

  it('decimal: exact Decimal128 with scale kept; DECIMAL(65,30) beyond 34 digits → nearest + raw', () => {
    const d = insert([col('v', 'decimal')], { v: '12.30' });
    assert.ok(d.after?.['v'] instanceof Decimal128);
    assert.equal(String(d.after['v']), '12.30');
    assert.equal(d.raw, undefined);
    const text = '-12345678901234567890123456789012345.123456789012345678901234567891';
    const wide = insert([col('v', 'decimal')], { v: text });
    assert.ok(wide.after?.['v'] instanceof Decimal128);
    assert.equal(String(wide.after['v']), '-1.234567890123456789012345678901234E+34');
    assert.deepEqual(wide.raw, { v: text });
    // 31 digits with trailing zeros: exact, no raw.
    const scaled = insert([col('v', 'decimal')], { v: '1.000000000000000000000000000000' });
    assert.equal(String(scaled.after?.['v']), '1.000000000000000000000000000000');
    assert.equal(scaled.raw, undefined);
    const ferret = insert([col('v', 'decimal')], { v: text }, FERRET);
    assert.equal(ferret.after?.['v'], text);
    assert.equal(ferret.raw, undefined);
  });

  it('float: always a Double, also when integral', () => {
    const one = value([col('v', 'float')], { v: 1 });
    assert.ok(one instanceof Double);
    assert.equal(one.value, 1);
    const f32 = value([col('v', 'float')], { v: 0.10000000149011612 });
    assert.ok(f32 instanceof Double);
    assert.equal(f32.value, 0.10000000149011612);
  });

  it('string, ENUM, TIME as strings; text bytes decoded by their own charset; SET as arrays', () => {
    assert.equal(value([col('v', 'string')], { v: 'b' }), 'b');
    const latin1 = { ...col('v', 'string'), charset: 'latin1' };
    assert.equal(value([latin1], { v: Buffer.from([0x68, 0xe9, 0x6c, 0x6c, 0x6f]) }), 'héllo');
    // The server maps the five bytes cp1252 leaves undefined to U+0081…, and UTF-8 bytes stored
    // in a latin1 column read back as their latin1 characters: never a guess at UTF-8.
    assert.equal(value([latin1], { v: Buffer.from([0x81, 0x8d, 0x8f, 0x90, 0x9d, 0x80]) }), '\u0081\u008d\u008f\u0090\u009d€');
    assert.equal(value([latin1], { v: Buffer.from('é', 'utf8') }), 'Ã©');
    // The reader's passthrough form: one byte per character.
    assert.equal(value([latin1], { v: '\u0081\u00e9' }), '\u0081é');
    assert.equal(value([{ ...col('v', 'string'), charset: 'utf8mb4' }], { v: Buffer.from('日本', 'utf8').toString('latin1') }), '日本');
    assert.equal(value([{ ...col('v', 'int'), year: true }], { v: 1900 }), 0);
    assert.equal(value([{ ...col('v', 'int'), year: true }], { v: 2155 }), 2155);
    assert.equal(value([col('v', 'time', false, 6)], { v: '-838:59:59.000000' }), '-838:59:59.000000');
    assert.deepEqual(value([col('v', 'set')], { v: 'x,z' }), ['x', 'z']);
    assert.deepEqual(value([col('v', 'set')], { v: '' }), []);
  });

  it('binary: BLOB and BIT bytes → Binary; BIT as a number → big-endian bytes', () => {
    const blob = value([col('v', 'binary')], { v: Buffer.from([0x00, 0xff, 0x10]) });
    assert.ok(blob instanceof Binary);
    assert.deepEqual([...blob.value()], [0x00, 0xff, 0x10]);
    // BIT(12) b'101000000001' arrives from zongji and mysql2 as <Buffer 0a 01>.
    const bit = value([col('v', 'binary')], { v: Buffer.from([0x0a, 0x01]) });
    assert.ok(bit instanceof Binary);
    assert.deepEqual([...bit.value()], [0x0a, 0x01]);
    const num = value([col('v', 'binary')], { v: 0xa01 });
    assert.ok(num instanceof Binary);
    assert.deepEqual([...num.value()], [0x0a, 0x01]);
    // GEOMETRY parsed into {x, y} by the drivers has lost its bytes: an error, not a silent sub-document.
    assert.throws(() => value([col('v', 'binary')], { v: { x: 1, y: 2 } }), /column v \(binary\)/);
  });

  it('date and datetime: UTC Dates; microseconds → truncated Date + raw; zero and invalid dates → null + raw', () => {
    assert.deepEqual(value([col('v', 'date')], { v: '2024-02-29' }), new Date('2024-02-29T00:00:00.000Z'));
    assert.deepEqual(value([col('v', 'datetime')], { v: '2024-01-02 03:04:05' }), new Date('2024-01-02T03:04:05.000Z'));
    const exactMs = insert([col('v', 'datetime', false, 3)], { v: '2024-01-02 03:04:05.120' });
    assert.deepEqual(exactMs.after?.['v'], new Date('2024-01-02T03:04:05.120Z'));
    assert.equal(exactMs.raw, undefined);
    const trailingZeros = insert([col('v', 'datetime', false, 6)], { v: '2024-01-02 03:04:05.123000' });
    assert.equal(trailingZeros.raw, undefined);
    const micro = insert([col('v', 'datetime', false, 6)], { v: '2024-01-02 03:04:05.123456' });
    assert.deepEqual(micro.after?.['v'], new Date('2024-01-02T03:04:05.123Z'));
    assert.deepEqual(micro.raw, { v: '2024-01-02 03:04:05.123456' });
    for (const [kind, text] of [
      ['date', '0000-00-00'],
      ['datetime', '0000-00-00 00:00:00.000000'],
      ['date', '2024-00-10'],
      ['date', '2024-05-00'],
      ['date', '2023-02-29'],
    ] as const) {
      const zero = insert([col('v', kind, false, kind === 'datetime' ? 6 : 0)], { v: text });
      assert.equal(zero.after?.['v'], null, text);
      assert.deepEqual(zero.raw, { v: text }, text);
    }
    // raw is the text as MySQL shows it, with the column's fractional digits, whichever protocol read it.
    const binaryProtocol = insert([col('v', 'datetime', false, 6)], { v: '0000-00-00 00:00:00' });
    assert.deepEqual(binaryProtocol.raw, { v: '0000-00-00 00:00:00.000000' });
    assert.equal(value([col('v', 'time', false, 6)], { v: '-838:59:59' }), '-838:59:59.000000');
    assert.equal(value([col('v', 'time', false, 2)], { v: '12:00:00.50' }), '12:00:00.50');
    // Years below 100 are not shifted into the 1900s.
    assert.equal((value([col('v', 'date')], { v: '0001-01-01' }) as Date).toISOString(), '0001-01-01T00:00:00.000Z');
  });

  it('json: MariaDB text → document; big integers keep the text; capability fallbacks keep the text', () => {
    assert.deepEqual(value([col('v', 'json')], { v: '{"a":[1,2,{"b":null}],"c":"ü"}' }), { a: [1, 2, { b: null }], c: 'ü' });
    assert.deepEqual(value([col('v', 'json')], { v: '[1,2.50,"x",null,true]' }), [1, 2.5, 'x', null, true]);
    assert.deepEqual(value([col('v', 'json')], { v: { a: 1 } }), { a: 1 }); // MySQL native JSON, already parsed
    const big = '{"n":12345678901234567890}';
    assert.equal(value([col('v', 'json')], { v: big }), big);
    assert.ok(hasUnsafeInteger('[-9007199254740993]'));
    assert.ok(!hasUnsafeInteger('[9007199254740991, 0.12345678901234567890, 1e12345678901234567, "12345678901234567890"]'));

    const nested = '{"a":[[1,2]]}';
    assert.deepEqual(value([col('v', 'json')], { v: nested }), { a: [[1, 2]] });
    assert.equal(value([col('v', 'json')], { v: nested }, { ...FULL_CAPABILITIES, nestedArrays: false }), nested);
    assert.deepEqual(value([col('v', 'json')], { v: '{"a":[1,{"b":[2]}]}' }, { ...FULL_CAPABILITIES, nestedArrays: false }), {
      a: [1, { b: [2] }],
    });
    for (const doc of ['{"k.x":1}', '{"a":{"$set":1}}', '[{"a\\u0000b":1}]']) {
      assert.deepEqual(value([col('v', 'json')], { v: doc }), JSON.parse(doc) as unknown);
      assert.equal(value([col('v', 'json')], { v: doc }, { ...FULL_CAPABILITIES, dottedKeys: false }), doc);
    }
    // An already-parsed value that needs a fallback becomes its JSON text.
    assert.equal(value([col('v', 'json')], { v: [[1]] }, FERRET), '[[1]]');
  });

  it('null is null for every kind', () => {
    const kinds: ColumnKind[] = ['int', 'bigint', 'decimal', 'float', 'string', 'set', 'binary', 'date', 'datetime', 'time', 'json'];
    for (const kind of kinds) {
      const c = insert([col('v', kind)], { v: null });
      assert.equal(c.after?.['v'], null, kind);
      assert.equal(c.raw, undefined, kind);
    }
  });
});

describe('row changes', () => {
  const columns = [col('shop', 'int'), col('sku', 'string'), col('qty', 'int'), col('price', 'decimal')];
  const schema = schemaOf(columns, ['shop', 'sku']);

  it('composite keys are objects in key column order; no key → null', () => {
    const [c] = run(schemaOf(columns, ['sku', 'shop']), [{ op: 'insert', after: { shop: 3, sku: 'A-1', qty: 2, price: '9.99' } }]);
    assert.deepEqual(Object.keys(c?.key as object), ['sku', 'shop']);
    assert.deepEqual(c?.key, { sku: 'A-1', shop: 3 });
    const [k] = run(schemaOf(columns, []), [{ op: 'insert', after: { shop: 3, sku: 'A-1', qty: 2, price: '9.99' } }]);
    assert.equal(k?.key, null);
    const [l] = run(schemaOf([col('id', 'bigint')], ['id']), [{ op: 'insert', after: { id: '9007199254740993' } }]);
    assert.ok(l?.key instanceof Long);
    assert.equal(l.key.toString(), '9007199254740993');
  });

  it('update that changes the key carries oldKey; one that does not, has none; delete keys on before', () => {
    const before = { shop: 3, sku: 'A-1', qty: 2, price: '9.99' };
    const [moved, same, gone] = run(schema, [
      { op: 'update', before, after: { ...before, sku: 'A-2' } },
      { op: 'update', before, after: { ...before, qty: '5' } },
      { op: 'delete', before },
    ]);
    assert.deepEqual(moved?.key, { shop: 3, sku: 'A-2' });
    assert.deepEqual(moved?.oldKey, { shop: 3, sku: 'A-1' });
    assert.equal(same?.oldKey, undefined);
    assert.equal(same?.after?.['qty'], 5);
    assert.ok(same?.before?.['price'] instanceof Decimal128);
    assert.deepEqual(gone?.key, { shop: 3, sku: 'A-1' });
    assert.equal(gone?.after, null);
    assert.equal(gone?.h, null);
    assert.equal(moved?.id, '0-1-7#0');
    assert.equal(moved?.db, 'shop');
    assert.equal(moved?.gtid, '0-1-7');
    assert.equal(moved?.ts, 1_700_000_000_000);
  });

  it('raw comes from the after image, and from the before image for deletes', () => {
    const s = schemaOf([col('id', 'int'), col('at', 'datetime', false, 6)]);
    const [upd, del] = run(s, [
      { op: 'update', before: { id: 1, at: '2024-01-01 00:00:00.000001' }, after: { id: 1, at: '2024-01-01 00:00:00.000002' } },
      { op: 'delete', before: { id: 1, at: '2024-01-01 00:00:00.000003' } },
    ]);
    assert.deepEqual(upd?.raw, { at: '2024-01-01 00:00:00.000002' });
    assert.deepEqual(del?.raw, { at: '2024-01-01 00:00:00.000003' });
  });

  it('a change whose schema index is missing fails the batch with its id', () => {
    assert.throws(() => run(schema, [{ op: 'insert', schema: 4, after: {} }]), /0-1-7#0: no schema #4/);
  });
});

describe('canonical hash', () => {
  const columns = [
    col('id', 'int', true),
    col('big', 'bigint'),
    col('amount', 'decimal'),
    col('at', 'datetime', false, 6),
    col('doc', 'json'),
    col('bits', 'binary'),
    col('tags', 'set'),
    col('ratio', 'float'),
  ];
  const schema = schemaOf(columns);
  const row: RawRow = {
    id: 4294967295,
    big: 42,
    amount: '12.30',
    at: '2024-01-02 03:04:05.123456',
    doc: '{"a": [1, 2], "b": {"c": "ü"}}',
    bits: Buffer.from([0x0a, 0x01]),
    tags: 'x,z',
    ratio: 0.5,
  };

  it('is what the decoder stores as h, independent of raw forms, column order and capabilities', () => {
    const [c] = run(schema, [{ op: 'insert', after: row }]);
    const h = hashRow(schema, row);
    assert.match(h, /^[0-9a-f]{32}$/);
    assert.equal(c?.h, h);
    // mysql2 forms: numeric strings for BIGINT, JSON re-spaced, columns in another order.
    const reordered: RawRow = { ...row, id: '4294967295', big: '42', doc: '{"a":[1,2],"b":{"c":"ü"}}' };
    const shuffled = schemaOf([...columns].reverse());
    assert.equal(hashRow(shuffled, reordered), h);
    const [f] = run(schema, [{ op: 'insert', after: row }], FERRET);
    assert.equal(f?.h, h);
  });

  it('changes when any value, type or sub-millisecond digit changes', () => {
    const h = hashRow(schema, row);
    const variants: RawRow[] = [
      { ...row, id: 4294967294 },
      { ...row, amount: '12.3' }, // same number, different scale: a different Decimal128
      { ...row, at: '2024-01-02 03:04:05.123457' }, // differs only below the millisecond
      { ...row, doc: '{"b": {"c": "ü"}, "a": [1, 2]}' }, // key order is part of a BSON document
      { ...row, bits: Buffer.from([0x0a, 0x02]) },
      { ...row, tags: 'x' },
      { ...row, ratio: 0.25 },
      { ...row, big: null },
    ];
    const seen = new Set([h]);
    for (const v of variants) seen.add(hashRow(schema, v));
    assert.equal(seen.size, variants.length + 1);
    // DECIMAL(65,30) values that round to the same Decimal128 differ in raw, so in the hash.
    const wide = schemaOf([col('v', 'decimal')]);
    const a = '1234567890123456789012345678901234.7';
    const b = '1234567890123456789012345678901234.6';
    assert.equal(String(run(wide, [{ op: 'insert', after: { v: a } }])[0]?.after?.['v']), String(run(wide, [{ op: 'insert', after: { v: b } }])[0]?.after?.['v']));
    assert.notEqual(hashRow(wide, { v: a }), hashRow(wide, { v: b }));
    // Same digits, different type: an INT 5 and a string '5' must not collide.
    const asInt = hashRow(schemaOf([col('v', 'int')]), { v: 5 });
    const asString = hashRow(schemaOf([col('v', 'string')]), { v: '5' });
    assert.notEqual(asInt, asString);
  });

  it('mapValue is pure: the same input maps the same twice', () => {
    const c = col('v', 'decimal');
    assert.deepEqual(mapValue(c, '1.5', FULL_CAPABILITIES), mapValue(c, '1.5', FULL_CAPABILITIES));
  });
});
