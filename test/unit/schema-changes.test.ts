import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SdlError } from '../../src/errors.js';
import { IncludeFilter } from '../../src/mysql/include-filter.js';
import { SchemaChanges } from '../../src/mysql/schema-changes.js';

const AT = 'binlog.000001:400 (GTID 0-1-9)';

function judge(include: string[], lower = false): SchemaChanges {
  return new SchemaChanges(new IncludeFilter(include), lower, (db, table) => (db === 'shop' && table === 't' ? [{ name: 'Note', type: 3, charset: null }] : undefined));
}

function stopCode(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof SdlError && err.errorClass === 'permanent', String(err));
    return err.code;
  }
}

describe('SchemaChanges', () => {
  it('judges the tables a statement names, not the session default database', () => {
    const s = judge(['shop']);
    assert.equal(s.judge('TRUNCATE shop.t', 'other', AT)?.action?.kind, 'truncate');
    assert.equal(s.judge('TRUNCATE other.t', 'shop', AT), undefined);
    assert.equal(s.judge('DROP TABLE shop.a, shop.b', '', AT)?.action?.kind, 'drop');
    assert.equal(s.judge('DROP DATABASE shop', '', AT)?.action?.kind, 'drop-database');
    assert.equal(s.judge('RENAME TABLE other.x TO shop.x', '', AT)?.action?.kind, 'rename');
    assert.equal(judge(['shop.t1']).judge('TRUNCATE shop.t2', 'shop', AT), undefined);
  });

  it('matches names in lower case with lower_case_table_names=1, and spells columns as the TableMap does', () => {
    const change = judge(['shop'], true).judge('ALTER TABLE SHOP.T DROP COLUMN NOTE', '', AT);
    assert.deepEqual(change?.action, { kind: 'alter', table: { db: 'shop', table: 't' }, dropColumns: ['Note'], addNullColumns: [], renameColumns: [], modifyColumns: [], primaryKey: false, stale: [] });
  });

  it('names the included tables a statement changes without row events, in the case the server logs names', () => {
    const lower = judge(['shop.t'], true);
    assert.deepEqual(lower.judge('ALTER TABLE SHOP.T DROP PARTITION p0', '', AT)?.copies, { tables: [{ db: 'shop', table: 't' }], why: ['DROP PARTITION'] });
    assert.deepEqual(lower.judge('ALTER TABLE Shop.T EXCHANGE PARTITION p0 WITH TABLE Shop.X', '', AT)?.copies, { tables: [{ db: 'shop', table: 't' }], why: ['EXCHANGE PARTITION'] });
    assert.deepEqual(lower.judge('RENAME TABLE Shop.T TO Shop.T_old, Shop.T_new TO Shop.T', '', AT)?.copies, { tables: [{ db: 'shop', table: 't' }], why: ['RENAME from a table that is not included'] });
    assert.equal(lower.judge('ALTER TABLE Shop.T ADD INDEX (a)', '', AT)?.copies, undefined, 'no copy for DDL that keeps stored rows');
    assert.equal(judge(['shop.t']).judge('ALTER TABLE shop.T DROP PARTITION p0', '', AT), undefined, 'names are case-sensitive without lower_case_table_names');
  });

  it('stops on a primary key change, or a change of a key column it has seen, naming table and position', () => {
    const s = judge(['shop']);
    assert.equal(stopCode(() => s.judge('ALTER TABLE shop.t DROP PRIMARY KEY, ADD PRIMARY KEY (v)', '', AT)), 'PRIMARY_KEY_CHANGED');
    s.tableMapKey('shop', 'k', ['id'], AT);
    assert.equal(stopCode(() => s.judge('ALTER TABLE shop.k MODIFY id BIGINT', '', AT)), 'PRIMARY_KEY_CHANGED');
    assert.equal(stopCode(() => s.judge('ALTER TABLE shop.k MODIFY v BIGINT, ADD INDEX (v)', '', AT)), undefined);
    assert.equal(stopCode(() => judge(['other']).judge('ALTER TABLE shop.t DROP PRIMARY KEY', '', AT)), undefined, 'excluded tables never stop');
  });

  it('stops when a TableMap shows another key, unless the table was dropped, replaced or renamed in between', () => {
    const s = judge(['shop']);
    s.tableMapKey('shop', 'u', ['a'], AT);
    s.tableMapKey('shop', 'u', ['a'], AT);
    assert.throws(() => s.tableMapKey('shop', 'u', ['b'], AT), (err: unknown) => err instanceof SdlError && err.code === 'PRIMARY_KEY_CHANGED' && err.message.includes('shop.u') && err.message.includes(AT));
    s.tableMapKey('shop', 'd', ['a'], AT);
    s.judge('DROP TABLE shop.d', '', AT);
    s.judge('CREATE TABLE shop.d (b INT PRIMARY KEY)', '', AT);
    assert.equal(stopCode(() => s.tableMapKey('shop', 'd', ['b'], AT)), undefined);
    s.tableMapKey('shop', 'r', ['a'], AT);
    s.judge('CREATE OR REPLACE TABLE shop.r (b INT PRIMARY KEY)', '', AT);
    assert.equal(stopCode(() => s.tableMapKey('shop', 'r', ['b'], AT)), undefined);
  });
});
