import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Double, Int32, Long, type Document } from 'mongodb';
import { compareDoc, digestMatches, docDigest, expectedOf } from '../../src/verify/compare.js';
import type { DecodedChange } from '../../src/pipeline/types.js';

/** A decoded row as verify expects it: `_id` 7, fields a and b, a raw text, and a hash. */
function row(over: Partial<DecodedChange> = {}): DecodedChange {
  return { id: 'x', seq: '', op: 'insert', db: 'd', table: 't', key: new Int32(7), before: null, after: { id: new Int32(7), a: 'text', b: new Long(5) }, h: 'hash1', gtid: undefined, ts: 0, raw: { b: '5' }, ...over };
}

function doc(over: Document = {}, sdl: Document = {}): Document {
  return { _id: new Int32(7), id: new Int32(7), a: 'text', b: new Long(5), _sdl: { pos: 'p', h: 'hash1', raw: { b: '5' }, ...sdl }, ...over };
}

/**
 * Verify's first pass keeps a digest per mirror document and reads a document again only when
 * its digest differs. That is exact only if equal digests mean `compareDoc` finds nothing: each
 * case below is checked both ways against `compareDoc` itself.
 */
describe('verify digests agree with the field-by-field comparison', () => {
  const cases: [string, DecodedChange, Document][] = [
    ['equal', row(), doc()],
    ['a field differs', row(), doc({ a: 'other' })],
    ['a Long stored as Int32', row(), doc({ b: new Int32(5) })],
    ['a number stored as Double', row(), doc({ b: new Double(5) })],
    ['an extra field', row(), doc({ c: 1 })],
    ['a field missing', row(), { ...doc(), a: undefined }],
    ['_id of another type', row(), doc({ _id: new Long(7) })],
    ['raw differs', row(), doc({}, { raw: { b: '5.0' } })],
    ['raw missing', row(), doc({}, { raw: undefined })],
    ['hash differs', row(), doc({}, { h: 'hash2' })],
    ['hash absent', row(), doc({}, { h: undefined })],
    ['hash null in the document (edited in place): not compared', row(), doc({}, { h: null })],
    ['hash null expected', row({ h: null }), doc()],
    ['hash null expected, field differs', row({ h: null }), doc({ a: 'x' })],
    ['position differs: not compared', row(), doc({}, { pos: 'q' })],
  ];
  for (const [name, r, d] of cases) {
    it(name, () => {
      const stored: Document = Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined));
      const want = expectedOf(r);
      const equal = compareDoc(want, stored).length === 0;
      const matches = digestMatches(want, docDigest(stored));
      // A match must mean equal; a non-match of equal documents only costs a second read.
      if (matches) assert.ok(equal, 'digests match but the documents differ');
      if (r.h !== null || (stored['_sdl'] as Document)['h'] === null) assert.equal(matches, equal);
    });
  }

  it('random field values: a digest match is never a difference', () => {
    const value = fc.oneof(fc.string(), fc.integer().map((n) => new Int32(n)), fc.integer().map((n) => new Long(n)), fc.double({ noNaN: true }).map((n) => new Double(n)), fc.constant(null));
    fc.assert(fc.property(value, value, (a, b) => {
      const want = expectedOf(row({ after: { id: new Int32(7), a, b: new Long(5) } }));
      const stored = doc({ a: b });
      assert.equal(digestMatches(want, docDigest(stored)), compareDoc(want, stored).length === 0);
    }), { numRuns: 500 });
  });
});
