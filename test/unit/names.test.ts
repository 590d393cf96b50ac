import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SdlError } from '../../src/errors.js';
import { checkMirrorNames } from '../../src/mongo/names-check.js';
import { collectionName, databaseName, fieldName, sourceName } from '../../src/mongo/names.js';

/** MySQL identifiers: 1–64 characters of the BMP (no supplementary characters), tricky ones often. */
const identifier = fc.string({
  unit: fc.oneof(fc.constantFrom('$', '.', '-', '_', '"', '/', ' ', 'é', 'A', 'a', 's', 'y', 't', 'e', 'm', '\u0000'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }).filter((c) => c.length === 1)),
  minLength: 1,
  maxLength: 64,
});
const tricky = fc.oneof(identifier, fc.constantFrom('_id', '_sdl', 'system.x', '.x', 't$1', 't-241', 'a.b', 'a-2eb', '$x', '-24x', 'my-db', 'my-2ddb'));

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

describe('source names → MongoDB names', () => {
  it('leaves ordinary names alone and escapes the rest readably', () => {
    assert.equal(databaseName('shop_2'), 'shop_2');
    assert.equal(collectionName('order items.é'), 'order items.é');
    assert.equal(fieldName('name'), 'name');
    assert.equal(collectionName('t$1'), 't-241');
    assert.equal(databaseName('my-db'), 'my-2ddb');
    assert.equal(databaseName('é'), '-c3-a9');
    assert.equal(fieldName('_id'), '-5fid');
    assert.equal(fieldName('_sdl'), '-5fsdl');
    assert.equal(fieldName('_idx'), '_idx');
    assert.equal(fieldName('a.b'), 'a-2eb');
    assert.equal(fieldName('$x'), '-24x');
    assert.equal(fieldName('x$'), 'x$');
    assert.equal(collectionName('system.users'), 'system-2eusers');
  });

  it('database names: always [A-Za-z0-9_-]{1,63} (FerretDB) and free of MongoDB\'s forbidden characters; injective', () => {
    fc.assert(fc.property(tricky, tricky, (a, b) => {
      const da = databaseName(a);
      assert.match(da, /^[A-Za-z0-9_-]{1,63}$/);
      assert.equal(da === databaseName(b), a === b, `${a} / ${b}`);
    }), { numRuns: 2000 });
  });

  it('collection names: no $, ", NUL, leading . or system.; at most 191 bytes; injective', () => {
    fc.assert(fc.property(tricky, tricky, (a, b) => {
      const ca = collectionName(a);
      assert.ok(!/[$"]/.test(ca) && !ca.includes('\u0000') && !ca.startsWith('.') && !ca.startsWith('system.') && ca.length > 0, ca);
      assert.ok(bytes(ca) <= 191, `${bytes(ca)} bytes`);
      assert.equal(ca === collectionName(b), a === b, `${a} / ${b}`);
    }), { numRuns: 2000 });
  });

  it('field names: no ., no leading $, no NUL, never _id or _sdl; injective', () => {
    fc.assert(fc.property(tricky, tricky, (a, b) => {
      const fa = fieldName(a);
      assert.ok(!fa.includes('.') && !fa.includes('\u0000') && !fa.startsWith('$') && fa !== '_id' && fa !== '_sdl', fa);
      assert.equal(fa === fieldName(b), a === b, `${a} / ${b}`);
    }), { numRuns: 2000 });
  });

  it('a mapped database or collection name gives back its source name, unless it was hashed or no mapping makes it', () => {
    fc.assert(fc.property(tricky, (a) => {
      for (const [kind, map] of [['database', databaseName], ['collection', collectionName]] as const) {
        const mapped = map(a);
        assert.equal(sourceName(mapped, kind), mapped.includes('--') ? undefined : a, `${kind} ${a} → ${mapped}`);
      }
    }), { numRuns: 2000 });
    for (const own of ['my-coll', 'x-2', 'x-zz', 'a-2eb-', 'x-ff', 't$1']) assert.equal(sourceName(own, 'collection'), undefined, own);
    // `.` is escaped in database names only: in a collection, `a-2eb` is no mapping's output.
    assert.equal(sourceName('a-2eb', 'database'), 'a.b');
    assert.equal(sourceName('a-2eb', 'collection'), undefined);
    assert.equal(sourceName('t-241', 'collection'), 't$1');
    assert.equal(sourceName('-c3-a9', 'database'), 'é');
  });

  it('names over the limit keep a readable prefix and end in a hash of the source name', () => {
    const long = `db_${'x'.repeat(61)}`;
    assert.match(databaseName(long), /^db_x+--[0-9a-f]{16}$/);
    assert.ok(bytes(databaseName(long)) <= 63);
    assert.notEqual(databaseName(long), databaseName(`${long.slice(0, -1)}z`));
    assert.equal(databaseName(`${'x'.repeat(63)}`), 'x'.repeat(63));
  });
});

describe('start-up check of mirror names', () => {
  const opts = { databaseMap: {}, sdlDatabase: 'sdl', existingDatabases: [] as string[] };
  it('refuses databases that differ only by case, naming both, with class config (exit 2)', () => {
    assert.throws(() => checkMirrorNames([{ db: 'Shop', table: 't' }, { db: 'shop', table: 't' }], opts), (err: unknown) => {
      assert.ok(err instanceof SdlError && err.errorClass === 'config' && err.code === 'NAME_COLLISION');
      assert.match(err.message, /`Shop`/);
      assert.match(err.message, /`shop`/);
      return true;
    });
  });
  it('refuses a mirror database that differs only by case from an existing one or from sdl\'s own', () => {
    assert.throws(() => checkMirrorNames([{ db: 'shop', table: 't' }], { ...opts, existingDatabases: ['SHOP'] }), /existing MongoDB database `SHOP`/);
    assert.throws(() => checkMirrorNames([{ db: 'SDL', table: 't' }], opts), /sdl's own database/);
  });
  it('refuses two source tables mapped to one collection by databaseMap', () => {
    assert.throws(() => checkMirrorNames([{ db: 'a', table: 't' }, { db: 'b', table: 't' }], { ...opts, databaseMap: { a: 'm', b: 'm' } }), /`a.t` and `b.t` both map to m.t/);
  });
  it('accepts distinct names, a table and database of the same name, and names already there', () => {
    checkMirrorNames([{ db: 'shop', table: 't' }, { db: 'shop', table: 'T' }, { db: 'shop2', table: 't' }], { ...opts, existingDatabases: ['shop', 'admin'] });
  });
});
