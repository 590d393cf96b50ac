import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnyBinlogEvent } from '@vlasky/zongji';
import { translate } from '../../src/actors/binlog-stream.js';
import { mysqlTracker } from '../../src/mysql/gtid.js';
import { IncludeFilter } from '../../src/mysql/include-filter.js';
import { TransactionAssembler } from '../../src/mysql/transaction-assembler.js';
import type { SourceTransaction } from '../../src/pipeline/types.js';

const UUID = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const INT = 3;

type Recorded = Record<string, unknown> & { type: string };

/** zongji's event objects as it hands them over for a MySQL 8 binlog (the fields translate() reads). */
function zongji(e: Recorded): AnyBinlogEvent {
  const { type, ...fields } = e;
  return { ...fields, getTypeName: () => type } as unknown as AnyBinlogEvent;
}

/** Event sequences as MySQL 8 logs them (binlog_format=ROW, gtid_mode=ON), through translate() into the assembler. */
function run(events: Recorded[], start?: string): SourceTransaction[] {
  const out: SourceTransaction[] = [];
  const a = new TransactionAssembler({ file: 'binlog.000001', pos: 4, ...(start !== undefined ? { gtid: start } : {}) }, new IncludeFilter(['shop']), mysqlTracker(start), {
    transaction: (t) => out.push(t),
    heartbeat: () => undefined,
  }, () => new Set());
  const ctx = { collations: new Map<number, string>(), include: new IncludeFilter(['shop']), at: () => 'recorded' };
  for (const e of events) {
    const ev = translate(zongji(e), ctx);
    if (ev !== undefined) a.push(ev);
  }
  return out;
}

const gtid = (n: number, pos: number): Recorded => ({ type: 'Gtid', gtid: `${UUID}:${n}`, sid: UUID, gno: n, flags: 1, nextPosition: pos, timestamp: 1 });
const query = (statement: string, pos: number, schema = 'shop'): Recorded => ({ type: 'Query', schema, query: statement, nextPosition: pos, timestamp: 1 });
const tablemap: Recorded = {
  type: 'TableMap', tableId: 7, schemaName: 'shop', tableName: 't', primaryKey: [0], nextPosition: 0, timestamp: 1,
  tableMap: { 7: { columns: [{ name: 'id', type: INT, charset: null, metadata: {} }], columnSchemas: [] } },
};
const insert = (id: number): Recorded => ({ type: 'WriteRows', tableId: 7, rows: [{ id }], size: 10, nextPosition: 0, timestamp: 1 });
const xid = (pos: number): Recorded => ({ type: 'Xid', nextPosition: pos, timestamp: 1 });
const previous = (gtidSet: string): Recorded => ({ type: 'PreviousGtids', gtidSet, sids: [], nextPosition: 0, timestamp: 1 });

describe('TransactionAssembler on MySQL 8 event sequences', () => {
  it('a DML transaction (GTID, BEGIN, TableMap, rows, Xid) is one transaction ending at its GTID', () => {
    const txns = run([gtid(5, 200), query('BEGIN', 280), tablemap, insert(1), insert(2), xid(400)], `${UUID}:1-4`);
    assert.equal(txns.length, 1);
    assert.equal(txns[0]?.changes.length, 2);
    assert.equal(txns[0]?.ddl, undefined);
    assert.deepEqual(txns[0]?.end, { file: 'binlog.000001', pos: 400, gtid: `${UUID}:1-5` });
  });

  it('a DDL (GTID, then the statement without BEGIN) is recorded and its GTID enters the saved set', () => {
    const txns = run([gtid(5, 200), query('TRUNCATE TABLE t', 300), gtid(6, 350), query('BEGIN', 400), tablemap, insert(1), xid(500)], `${UUID}:1-4`);
    assert.equal(txns.length, 2);
    assert.equal(txns[0]?.ddl?.statement, 'TRUNCATE TABLE t');
    assert.deepEqual(txns[0]?.ddl?.action, { kind: 'truncate', table: { db: 'shop', table: 't' } });
    assert.deepEqual(txns[0]?.end, { file: 'binlog.000001', pos: 300, gtid: `${UUID}:1-5` });
    assert.deepEqual(txns[1]?.end, { file: 'binlog.000001', pos: 500, gtid: `${UUID}:1-6` });
  });

  it('CREATE TABLE … SELECT (GTID, DDL … START TRANSACTION, rows, Xid) is one transaction: DDL first, then its rows', () => {
    const txns = run([gtid(5, 200), query('CREATE TABLE `shop`.`t` (`id` int NOT NULL, PRIMARY KEY (`id`)) START TRANSACTION', 300), tablemap, insert(1), insert(2), xid(450)], `${UUID}:1-4`);
    assert.equal(txns.length, 1);
    assert.deepEqual(txns[0]?.ddl?.action, { kind: 'create', table: { db: 'shop', table: 't' } });
    assert.equal(txns[0]?.changes.length, 2);
    assert.deepEqual(txns[0]?.end, { file: 'binlog.000001', pos: 450, gtid: `${UUID}:1-5` });
  });

  it('a first start seeds the saved set from Previous_gtids at the file start', () => {
    const txns = run([previous(`${UUID}:1-100`), gtid(101, 200), query('BEGIN', 280), tablemap, insert(1), xid(400)]);
    assert.equal(txns[0]?.end.gtid, `${UUID}:1-101`);
  });

  it('a resumed set is not replaced by the Previous_gtids of a later file', () => {
    const txns = run([previous(`${UUID}:1-3`), gtid(6, 200), query('COMMIT', 300)], `${UUID}:1-5`);
    assert.equal(txns[0]?.end.gtid, `${UUID}:1-6`);
  });
});
