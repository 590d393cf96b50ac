import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Binary, Decimal128, Double, Int32, Long } from 'mongodb';
import { decodeBatch } from '../../src/decode/decode-changes.js';
import { rehydrate } from '../../src/decode/rehydrate.js';
import { FULL_CAPABILITIES, type DecodeCapabilities } from '../../src/decode/wire.js';
import { keyIdentity } from '../../src/mongo/key-identity.js';
import type { ColumnSpec, DecodedChange, RawValue, RowChange, TableSchema } from '../../src/pipeline/types.js';
import { indexSource } from '../../src/verify/verify.js';

const FERRET: DecodeCapabilities = { decimal128: false, nestedArrays: false, dottedKeys: false };

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/**
 * Source values of one key column, as zongji hands them over with exact options, and the
 * source's own identity of each (equal identities ⇔ one row in MySQL's eyes).
 */
interface KeyKind {
  col: Omit<ColumnSpec, 'name'>;
  value: fc.Arbitrary<{ raw: RawValue; source: string }>;
}

const dateText = fc.tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 31 }))
  .map(([y, m, d]) => `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`);
const clock = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }))
  .map(([h, m, s]) => `${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}`);
const same = (raw: RawValue & (string | number)) => ({ raw, source: String(raw) });

function datetime(fsp: number): KeyKind {
  return {
    col: { kind: 'datetime', unsigned: false, fsp },
    // The binlog pads the fraction to the column's fsp; that text is the source identity.
    value: fc.tuple(dateText, clock, fc.integer({ min: 0, max: 10 ** fsp - 1 }))
      .map(([d, t, f]) => same(fsp === 0 ? `${d} ${t}` : `${d} ${t}.${pad(f, fsp)}`)),
  };
}

function decimal(scale: number): KeyKind {
  return {
    col: { kind: 'decimal', unsigned: false, fsp: 0 },
    value: fc.tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** 65n - 1n })).map(([neg, digits]) => {
      const text = digits.toString().padStart(scale + 1, '0');
      const whole = text.slice(0, text.length - scale);
      const zero = digits === 0n;
      const out = `${neg && !zero ? '-' : ''}${whole}${scale === 0 ? '' : `.${text.slice(-scale)}`}`;
      return { raw: out, source: out };
    }),
  };
}

const KINDS: Record<string, KeyKind> = {
  int: { col: { kind: 'int', unsigned: false, fsp: 0 }, value: fc.integer().map(same) },
  intUnsigned: { col: { kind: 'int', unsigned: true, fsp: 0 }, value: fc.integer({ min: 0, max: 2 ** 32 - 1 }).map(same) },
  bigint: {
    col: { kind: 'bigint', unsigned: false, fsp: 0 },
    value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => ({ raw: Number.isSafeInteger(Number(n)) ? Number(n) : n.toString(), source: n.toString() })),
  },
  bigintUnsigned: { col: { kind: 'bigint', unsigned: true, fsp: 0 }, value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((n) => same(n.toString())) },
  decimal65_30: decimal(30),
  decimal10_2: decimal(2),
  decimal40_0: decimal(0),
  double: {
    col: { kind: 'float', unsigned: false, fsp: 0 },
    // MySQL compares -0 and 0 equal, so they are one source key.
    value: fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => ({ raw: d, source: Object.is(d, -0) ? '0' : String(d) })),
  },
  string: { col: { kind: 'string', unsigned: false, fsp: 0 }, value: fc.string({ unit: 'binary' }).map(same) },
  binary: {
    col: { kind: 'binary', unsigned: false, fsp: 0 },
    value: fc.uint8Array({ maxLength: 8 }).map((b) => ({ raw: Buffer.from(b), source: Buffer.from(b).toString('hex') })),
  },
  date: { col: { kind: 'date', unsigned: false, fsp: 0 }, value: dateText.map(same) },
  datetime0: datetime(0),
  datetime3: datetime(3),
  datetime4: datetime(4),
  datetime6: datetime(6),
  time6: {
    col: { kind: 'time', unsigned: false, fsp: 6 },
    value: fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 838 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 999999 }))
      .filter(([neg, h, m, s, f]) => !neg || h + m + s + f > 0)
      .map(([neg, h, m, s, f]) => same(`${neg ? '-' : ''}${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}.${pad(f, 6)}`)),
  },
  set: {
    col: { kind: 'set', unsigned: false, fsp: 0 },
    value: fc.subarray(['a', 'b', 'c', 'd']).map((items) => same(items.join(','))),
  },
};

/** Mirror `_id`s of rows with these key values, decoded as the pipeline decodes them. */
function ids(cols: ColumnSpec[], rows: RawValue[][], caps: DecodeCapabilities): DecodedChange[] {
  const schema: TableSchema = { db: 'd', table: 't', columns: cols, key: cols.map((c) => c.name) };
  const changes = rows.map((row, i): RowChange => ({
    op: 'insert', schema: 0, before: null, after: Object.fromEntries(cols.map((c, j) => [c.name, row[j] ?? null])), id: `x#${i}`, seq: '',
  }));
  return rehydrate(decodeBatch({ transactions: [{ gtid: undefined, ts: 0, schemas: [schema], changes }], caps }));
}

function assertAllowedId(id: unknown): void {
  assert.ok(id !== null && id !== undefined && !Array.isArray(id), `not an allowed _id: ${String(id)}`);
  if (typeof id === 'object' && Object.getPrototypeOf(id) === Object.prototype) for (const v of Object.values(id)) assertAllowedId(v);
}

describe('mirror _id encoding', () => {
  for (const caps of [FULL_CAPABILITIES, FERRET]) {
    const server = caps.decimal128 ? 'with Decimal128' : 'without Decimal128 (FerretDB)';
    for (const [name, kind] of Object.entries(KINDS)) {
      it(`${name}, ${server}: distinct source keys get distinct _ids under MongoDB equality, and one key always the same _id`, () => {
        fc.assert(
          fc.property(fc.uniqueArray(kind.value, { selector: (v) => v.source, minLength: 2, maxLength: 30 }), (values) => {
            const col: ColumnSpec = { name: 'k', ...kind.col };
            const decoded = ids([col], values.map((v) => [v.raw]), caps);
            for (const c of decoded) assertAllowedId(c.key);
            const identities = decoded.map((c) => keyIdentity(c.key));
            assert.equal(new Set(identities).size, values.length, `collision among ${JSON.stringify(values.map((v) => v.source))}`);
            // Deterministic: decoding the same rows again gives the same identities.
            assert.deepEqual(ids([col], values.map((v) => [v.raw]), caps).map((c) => keyIdentity(c.key)), identities);
          }),
          { numRuns: 200 },
        );
      });
    }
  }

  it('composite keys of every pair of kinds: distinct source tuples get distinct _ids', () => {
    const names = Object.keys(KINDS);
    const pair = fc.tuple(fc.constantFrom(...names), fc.constantFrom(...names));
    fc.assert(
      fc.property(pair.chain(([a, b]) => {
        const ka = KINDS[a];
        const kb = KINDS[b];
        return fc.tuple(fc.constant([a, b]), fc.uniqueArray(fc.tuple(ka.value, kb.value), { selector: ([x, y]) => JSON.stringify([x.source, y.source]), minLength: 2, maxLength: 20 }));
      }), ([[a, b], rows]) => {
        const cols: ColumnSpec[] = [{ name: 'p', ...(KINDS[a ?? '']).col }, { name: 'q', ...(KINDS[b ?? '']).col }];
        const decoded = ids(cols, rows.map(([x, y]) => [x.raw, y.raw]), FULL_CAPABILITIES);
        for (const c of decoded) assertAllowedId(c.key);
        assert.equal(new Set(decoded.map((c) => keyIdentity(c.key))).size, rows.length);
      }),
      { numRuns: 300 },
    );
  });

  it('a changed key is noticed exactly: DATETIME(6) 1 µs apart moves the document, an unchanged key does not', () => {
    const col: ColumnSpec = { name: 'k', kind: 'datetime', unsigned: false, fsp: 6 };
    const schema: TableSchema = { db: 'd', table: 't', columns: [col, { name: 'v', kind: 'int', unsigned: false, fsp: 0 }], key: ['k'] };
    const upd = (from: string, to: string): RowChange => ({ op: 'update', schema: 0, before: { k: from, v: 1 }, after: { k: to, v: 2 }, id: 'x#0', seq: '' });
    const [moved, kept] = rehydrate(decodeBatch({
      transactions: [{ gtid: undefined, ts: 0, schemas: [schema], changes: [upd('2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123457'), upd('2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456')] }],
      caps: FULL_CAPABILITIES,
    }));
    assert.equal(moved?.oldKey, '2024-01-02 03:04:05.123456');
    assert.equal(moved?.key, '2024-01-02 03:04:05.123457');
    assert.equal(kept?.oldKey, undefined);
  });
});

describe('keyIdentity: MongoDB _id equality', () => {
  it('numbers compare by exact value across Int32, Int64, Double and Decimal128, promoted or not', () => {
    const five = keyIdentity(5);
    for (const v of [new Int32(5), Long.fromNumber(5), new Double(5), Decimal128.fromString('5.00'), 5n, Decimal128.fromString('0.5E1')]) assert.equal(keyIdentity(v), five);
    assert.equal(keyIdentity(Long.fromString('-9223372036854775808')), keyIdentity(Decimal128.fromString('-9223372036854775808')));
    assert.notEqual(keyIdentity(0.1), keyIdentity(Decimal128.fromString('0.1')));
    assert.equal(keyIdentity(0.5), keyIdentity(Decimal128.fromString('0.50')));
    assert.equal(keyIdentity(-0), keyIdentity(0));
    assert.notEqual(keyIdentity(Long.fromString('9007199254740993')), keyIdentity(9007199254740992));
    assert.notEqual(keyIdentity('5'), five);
  });

  it('doubles: identity follows the exact binary value', () => {
    fc.assert(fc.property(fc.double({ noNaN: true }), fc.double({ noNaN: true }), (a, b) => {
      assert.equal(keyIdentity(a) === keyIdentity(b), a === b);
    }));
  });

  it('documents compare field by field in order; strings and binaries exactly', () => {
    assert.equal(keyIdentity({ a: Long.fromNumber(1), b: 'x' }), keyIdentity({ a: 1, b: 'x' }));
    assert.notEqual(keyIdentity({ a: 1, b: 'x' }), keyIdentity({ b: 'x', a: 1 }));
    assert.equal(keyIdentity(new Binary(Buffer.from([1, 2]))), keyIdentity(Buffer.from([1, 2])));
    assert.notEqual(keyIdentity(new Binary(Buffer.from([1, 2]), 4)), keyIdentity(Buffer.from([1, 2])));
    assert.notEqual(keyIdentity('a'), keyIdentity('a '));
    assert.notEqual(keyIdentity(new Date(0)), keyIdentity(0));
  });
});

describe('verifier source index', () => {
  it('counts source rows, not distinct _ids, and reports rows that share one _id', () => {
    const schema: TableSchema = { db: 'd', table: 't', columns: [{ name: 'k', kind: 'bigint', unsigned: false, fsp: 0 }], key: ['k'] };
    const row = (key: unknown, id: string): DecodedChange => ({ id, seq: '', op: 'insert', db: 'd', table: 't', key, before: null, after: { k: key }, h: null, gtid: undefined, ts: 0 });
    const index = indexSource(schema, [row(Long.fromNumber(5), 'a'), row(new Int32(5), 'b'), row(Long.fromNumber(6), 'c')]);
    assert.equal(index.rows, 3);
    assert.equal(index.byKey.size, 2);
    assert.equal(index.collisions.size, 1);
    assert.equal([...index.collisions.values()][0]?.length, 2);
  });
});
