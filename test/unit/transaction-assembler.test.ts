import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SdlError } from '../../src/errors.js';
import { mariadbTracker } from '../../src/mysql/gtid.js';
import { IncludeFilter } from '../../src/mysql/include-filter.js';
import { absentColumns } from '../../src/mysql/row-image.js';
import { type AssemblerEvent, TransactionAssembler } from '../../src/mysql/transaction-assembler.js';
import { classifyStatement, xidOf } from '../../src/mysql/txn-statements.js';
import type { SourcePosition, SourceTransaction } from '../../src/pipeline/types.js';

/**
 * Event sequences as MariaDB 10.11 logs them (ROW format, read with mariadb-binlog -vv and
 * zongji on a test server), fed to the assembler.
 */
const FILE = 'binlog.000002';
const COLS = [
  { name: 'id', type: 3, charset: null },
  { name: 'v', type: 15, charset: 'utf8mb4' },
];

function harness(include: string[] = ['d'], start?: SourcePosition) {
  const txns: SourceTransaction[] = [];
  const beats: SourcePosition[] = [];
  const a = new TransactionAssembler(start ?? { file: FILE, pos: 256, gtid: '0-1-10' }, new IncludeFilter(include), mariadbTracker(start?.gtid ?? '0-1-10'), {
    transaction: (t) => txns.push(t),
    heartbeat: (p) => beats.push(p),
  }, () => new Set());
  const push = (...events: AssemblerEvent[]): void => {
    for (const e of events) a.push(e);
  };
  push({ kind: 'rotate', file: FILE, position: 4 });
  return { a, txns, beats, push };
}

const gtid = (seq: number, pos: number): AssemblerEvent => ({ kind: 'begin', gtid: `0-1-${seq}`, standalone: false, nextPosition: pos, timestamp: 1 });
const map = (tableId: number, db: string, table: string): AssemblerEvent => ({ kind: 'tablemap', tableId, db, table, columns: COLS, primaryKey: [0] });
const insert = (tableId: number, id: number, pos: number, absent: number[] = []): AssemblerEvent => ({ kind: 'rows', op: 'insert', tableId, rows: [{ id, v: `v${id}` }], size: 20, timestamp: 1, absent, nextPosition: pos });
const query = (statement: string, pos: number, db = 'd'): AssemblerEvent => ({ kind: 'query', db, statement, nextPosition: pos, timestamp: 1 });
const xid = (pos: number): AssemblerEvent => ({ kind: 'commit', nextPosition: pos, timestamp: 1 });
const X1 = xidOf(1, Buffer.from('x1'), Buffer.alloc(0));

function throwsCode(fn: () => void, code: string, ...mentions: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SdlError, String(err));
    assert.equal(err.code, code);
    assert.equal(err.errorClass, 'permanent');
    for (const m of mentions) assert.ok(`${err.message} ${err.hint ?? ''}`.includes(m), `"${err.message}" / "${err.hint ?? ''}" lacks ${m}`);
    return true;
  });
}

describe('TransactionAssembler on recorded MariaDB event sequences', () => {
  it('a rolled-back group that logged no rows on included tables moves the checkpoint', () => {
    // XA START; INSERT x.e; XA END; XA ROLLBACK on a table with a MyISAM-writing trigger:
    // GTID, TableMap, Write_rows, Query ROLLBACK.
    const h = harness();
    h.push(gtid(34, 3000), map(24, 'x', 'e'), insert(24, 44, 3089), query('ROLLBACK', 3160));
    assert.equal(h.txns.length, 1);
    assert.deepEqual(h.txns[0]?.changes, []);
    assert.equal(h.txns[0]?.end.gtid, '0-1-34');
    assert.equal(h.a.inTransaction, false);
  });

  it('a rolled-back group with rows on an included table stops: which rows stayed is not in the binlog', () => {
    const h = harness();
    throwsCode(() => h.push(gtid(34, 3000), map(24, 'd', 'i'), insert(24, 44, 3089), query('ROLLBACK', 3160)), 'UNSUPPORTED_EVENT', 'd.i', `${FILE}:3160`, '0-1-34', '`d.i`', 'sdl run --resnapshot');
  });

  it('non-transactional rows arrive as their own group ended by a COMMIT query and are applied', () => {
    const h = harness();
    h.push(gtid(22, 400), map(25, 'd', 'log'), insert(25, 1, 579), query('COMMIT', 648));
    assert.equal(h.txns[0]?.changes.length, 1);
  });

  it('ROLLBACK TO a savepoint drops the rows logged after it', () => {
    // MariaDB logs SAVEPOINT and ROLLBACK TO only when the transaction also wrote a
    // non-transactional table; rows 51 were undone, 50 and 52 committed.
    const h = harness();
    h.push(gtid(41, 1228), map(24, 'd', 'i'), insert(24, 50, 1333), query('SAVEPOINT `s1`', 1410), insert(24, 51, 1515), query('ROLLBACK TO `s1`', 1594), insert(24, 52, 1699), xid(1730));
    assert.deepEqual(h.txns[0]?.changes.map((c) => c.after?.['id']), [50, 52]);
    assert.deepEqual(h.txns[0]?.changes.map((c) => c.id), ['0-1-41#0', '0-1-41#1']);
  });

  it('XA PREPARE then XA COMMIT from another connection: rows applied at the commit, checkpoint held before the PREPARE', () => {
    const h = harness();
    h.push(
      gtid(25, 654), map(24, 'd', 'i'), insert(24, 40, 759), query("XA END X'7831',X'',1", 1009),
      { kind: 'xaprepare', xid: X1, onePhase: false, nextPosition: 1047, timestamp: 1 },
    );
    assert.equal(h.txns.length, 0);
    assert.equal(h.a.inTransaction, false);
    // Another transaction commits in between; its checkpoint must not pass the PREPARE.
    h.push(gtid(26, 1129), map(24, 'd', 'i'), insert(24, 41, 1392), xid(1423));
    assert.equal(h.txns[0]?.changes.length, 1);
    assert.deepEqual(h.txns[0]?.end, { file: FILE, pos: 256, gtid: '0-1-10' });
    h.push({ kind: 'heartbeat', file: FILE, nextPosition: 1423 });
    assert.equal(h.beats.length, 0, 'no heartbeat position past an undecided PREPARE');
    h.push({ kind: 'begin', gtid: '0-1-27', standalone: false, nextPosition: 1467, timestamp: 1 }, query("XA COMMIT X'7831',X'',1", 1553));
    const commit = h.txns[1];
    assert.deepEqual(commit?.changes.map((c) => [c.after?.['id'], c.id]), [[40, '0-1-27#0']]);
    assert.equal(commit?.changes[0]?.seq, 'e000000:0000000002:000000001467:00000000');
    assert.deepEqual(commit?.end, { file: FILE, pos: 1553, gtid: '0-1-27' });
  });

  it('an XA COMMIT group flagged standalone is read as the decision, not as DDL', () => {
    // Seen on MariaDB 10.11 for XA COMMIT issued by a new connection: GTID standalone, Query.
    const h = harness();
    h.push(
      gtid(56, 1311), map(24, 'd', 'i'), insert(24, 10, 1400), query("XA END X'7031',X'',1", 1745),
      { kind: 'xaprepare', xid: xidOf(1, Buffer.from('p1'), Buffer.alloc(0)), onePhase: false, nextPosition: 1783, timestamp: 1 },
      { kind: 'begin', gtid: '0-1-59', standalone: true, nextPosition: 2424, timestamp: 1 }, query("XA COMMIT X'7031',X'',1", 2510, ''),
    );
    assert.deepEqual(h.txns.map((t) => [t.changes.length, t.end.gtid, t.ddl]), [[1, '0-1-59', undefined]]);
  });

  it('XA ROLLBACK of a prepared branch drops its rows and releases the checkpoint', () => {
    const h = harness();
    h.push(
      gtid(29, 1868), map(24, 'd', 'i'), insert(24, 42, 1973), query("XA END X'7832',X'',1", 2056),
      { kind: 'xaprepare', xid: xidOf(1, Buffer.from('x2'), Buffer.alloc(0)), onePhase: false, nextPosition: 2094, timestamp: 1 },
      gtid(30, 2138), query("XA ROLLBACK X'7832',X'',1", 2226),
    );
    assert.deepEqual(h.txns.map((t) => [t.changes.length, t.end.gtid]), [[0, '0-1-30']]);
  });

  it('XA COMMIT … ONE PHASE is an ordinary group ended by an Xid', () => {
    const h = harness();
    h.push(gtid(32, 2537), map(24, 'd', 'i'), insert(24, 43, 2642), xid(2673));
    assert.equal(h.txns[0]?.changes.length, 1);
  });

  it('an XA_PREPARE event with the one-phase flag commits the group', () => {
    const h = harness();
    h.push(gtid(32, 2537), map(24, 'd', 'i'), insert(24, 43, 2642), { kind: 'xaprepare', xid: X1, onePhase: true, nextPosition: 2673, timestamp: 1 });
    assert.equal(h.txns[0]?.changes.length, 1);
  });

  it('XA COMMIT of a branch prepared before the start position stops', () => {
    const h = harness();
    throwsCode(() => h.push(gtid(27, 1467), query("XA COMMIT X'7831',X'',1", 1553)), 'UNSUPPORTED_EVENT', "x'7831'", `${FILE}:1553`);
  });

  it('statement-format DML on an included table stops, naming table, statement and position', () => {
    const h = harness();
    throwsCode(() => h.push(gtid(12, 381), query('INSERT INTO d.i VALUES (3,\'b\',NULL)', 519), query('ROLLBACK', 683)), 'STATEMENT_FORMAT_DML', 'd.i', 'INSERT INTO d.i', `${FILE}:519`, '0-1-12', 'binlog_format=ROW');
    const h2 = harness();
    throwsCode(() => h2.push(gtid(13, 381), query('update `i` set v = 1 where id = 2', 500), xid(530)), 'STATEMENT_FORMAT_DML', 'd.i');
  });

  it('statement-format DML on excluded tables only is passed over, and the checkpoint moves', () => {
    const h = harness();
    h.push(gtid(12, 381), query('INSERT INTO x.e VALUES (1, 2)', 519), query('UPDATE e SET v = 3', 600, 'x'), { kind: 'unknown', size: 16, nextPosition: 610 }, query('DELETE FROM `x`.`e` WHERE id = 1', 650), xid(700));
    assert.deepEqual(h.txns.map((t) => [t.changes.length, t.end.gtid]), [[0, '0-1-12']]);
  });

  it('unidentifiable events not directly before a statement stop the group even if a later statement is on excluded tables', () => {
    const h = harness();
    throwsCode(() => h.push(gtid(46, 381), { kind: 'unknown', size: 20, nextPosition: 448 }, { kind: 'unknown', size: 200, nextPosition: 720 }, map(24, 'x', 'e'), insert(24, 1, 800), query('INSERT INTO x.e VALUES (2, 2)', 900), xid(951)), 'STATEMENT_FORMAT_DML', `${FILE}:448`);
  });

  it('DML whose target cannot be read stops even when no included table is named', () => {
    const h = harness();
    throwsCode(() => h.push(gtid(12, 381), query('UPDATE x.e, x.f SET x.e.v = x.f.v WHERE x.e.id = x.f.id', 519)), 'STATEMENT_FORMAT_DML', 'cannot determine');
  });

  it('LOAD DATA logged as Begin_load_query + Execute_load_query (unknown to zongji) stops at the group end', () => {
    const h = harness();
    throwsCode(() => h.push(gtid(46, 381), { kind: 'unknown', size: 20, nextPosition: 448 }, { kind: 'unknown', size: 200, nextPosition: 720 }, xid(751)), 'STATEMENT_FORMAT_DML', `${FILE}:448`);
  });

  it('an unidentifiable event between groups stops unless it is an empty Stop event', () => {
    const h = harness();
    h.push({ kind: 'unknown', size: 0, nextPosition: 900 });
    throwsCode(() => h.push({ kind: 'unknown', size: 30, nextPosition: 950 }), 'UNSUPPORTED_EVENT', `${FILE}:950`);
  });

  it('a row image without some columns stops with PARTIAL_ROW_IMAGE on included tables only', () => {
    const h = harness();
    throwsCode(() => h.push(gtid(44, 882), map(24, 'd', 'i'), insert(24, 60, 1139, [1])), 'PARTIAL_ROW_IMAGE', 'd.i', 'v', `${FILE}:1139`, 'binlog_row_image=FULL');
    const h2 = harness();
    h2.push(gtid(44, 882), map(24, 'x', 'e'), insert(24, 60, 1139, [1]), xid(1170));
    assert.equal(h2.txns.length, 1);
  });

  it('a new GTID while a group with rows is still open stops instead of dropping the rows', () => {
    const h = harness();
    throwsCode(() => h.push(gtid(50, 400), map(24, 'd', 'i'), insert(24, 1, 500), gtid(51, 600)), 'UNSUPPORTED_EVENT', 'd.i');
  });
});

describe('absentColumns', () => {
  it('reads the present-columns bitmaps of both images', () => {
    assert.deepEqual(absentColumns(3, [Buffer.from([0b111])]), []);
    assert.deepEqual(absentColumns(3, [Buffer.from([0b001]), Buffer.from([0b011])]), [1, 2]);
    assert.deepEqual(absentColumns(10, [Buffer.from([0xff, 0b01])]), [9]);
  });
});

describe('classifyStatement', () => {
  it('reads the target of single-table DML and refuses to guess multi-table targets', () => {
    assert.deepEqual(classifyStatement('INSERT IGNORE INTO `a b`.`c` SELECT * FROM x.y', 'd'), { kind: 'dml', targets: [{ db: 'a b', table: 'c' }] });
    assert.deepEqual(classifyStatement('/* c */ REPLACE t VALUES (1)', 'd'), { kind: 'dml', targets: [{ db: 'd', table: 't' }] });
    assert.deepEqual(classifyStatement('UPDATE LOW_PRIORITY t AS a SET a.v = 1', 'd'), { kind: 'dml', targets: [{ db: 'd', table: 't' }] });
    assert.deepEqual(classifyStatement('DELETE FROM d2.t WHERE id = 1', 'd'), { kind: 'dml', targets: [{ db: 'd2', table: 't' }] });
    assert.deepEqual(classifyStatement("LOAD DATA LOCAL INFILE '/tmp/SQL_LOAD_MB-1-0' INTO TABLE `d`.`i` FIELDS TERMINATED BY '\\t'", 'x'), { kind: 'dml', targets: [{ db: 'd', table: 'i' }] });
    assert.deepEqual(classifyStatement('UPDATE a JOIN b ON a.id = b.id SET a.v = b.v', 'd'), { kind: 'dml', targets: undefined });
    assert.deepEqual(classifyStatement('DELETE a, b FROM a JOIN b', 'd'), { kind: 'dml', targets: undefined });
    assert.deepEqual(classifyStatement('DELETE FROM a USING a JOIN b', 'd'), { kind: 'dml', targets: undefined });
    assert.deepEqual(classifyStatement('WITH c AS (SELECT 1) UPDATE t SET v = 1', 'd'), { kind: 'dml', targets: undefined });
    assert.deepEqual(classifyStatement('SELECT add_row(1)', 'd'), { kind: 'dml', targets: undefined });
  });

  it('reads XA, savepoint and end markers', () => {
    assert.deepEqual(classifyStatement("XA COMMIT X'7831',X'',1", 'd'), { kind: 'xa-commit', xid: xidOf(1, Buffer.from('x1'), Buffer.alloc(0)) });
    assert.deepEqual(classifyStatement("XA ROLLBACK X'41',X'42',7", 'd'), { kind: 'xa-rollback', xid: xidOf(7, Buffer.from('A'), Buffer.from('B')) });
    assert.deepEqual(classifyStatement("XA COMMIT 'x3' ONE PHASE", 'd'), { kind: 'xa-marker' });
    assert.deepEqual(classifyStatement("XA END X'7831',X'',1", 'd'), { kind: 'xa-marker' });
    assert.deepEqual(classifyStatement('ROLLBACK TO `s1`', 'd'), { kind: 'rollback-to', name: 's1' });
    assert.deepEqual(classifyStatement('ROLLBACK WORK TO SAVEPOINT s1', 'd'), { kind: 'rollback-to', name: 's1' });
    assert.deepEqual(classifyStatement('ROLLBACK', 'd'), { kind: 'rollback' });
    assert.deepEqual(classifyStatement('SAVEPOINT `s1`', 'd'), { kind: 'savepoint', name: 's1' });
    assert.deepEqual(classifyStatement('CREATE TABLE t SELECT 1', 'd'), { kind: 'other' });
  });
});

describe('TransactionAssembler: which tables must have their JSON columns asked of the server', () => {
  it('a schema built while the table was unknown is asked for, even when the answer for an earlier transaction arrived before this commit', () => {
    const known = new Map<string, ReadonlySet<string>>();
    const asked: string[][] = [];
    const txns: SourceTransaction[] = [];
    const a = new TransactionAssembler({ file: FILE, pos: 256, gtid: '0-1-10' }, new IncludeFilter(['d']), mariadbTracker('0-1-10'), {
      transaction: (t, lookups) => {
        txns.push(t);
        asked.push([...lookups]);
      },
      heartbeat: () => undefined,
    }, (db, table) => known.get(`${db}.${table}`));
    for (const e of [{ kind: 'rotate', file: FILE, position: 4 } as AssemblerEvent, gtid(11, 300), map(24, 'd', 't'), insert(24, 1, 350), xid(400), gtid(12, 450), map(24, 'd', 't'), insert(24, 2, 500)]) a.push(e);
    // The server's answer for the first transaction lands while the second is open.
    known.set('d.t', new Set(['v']));
    a.push(xid(550));
    assert.deepEqual(asked, [['d.t'], ['d.t']]);
    assert.equal(txns[1]?.schemas[0]?.columns.find((c) => c.name === 'v')?.kind, 'string', 'built before the answer: the reader patches it');
    // Once known when the rows arrive, nothing is asked and the schema says JSON.
    for (const e of [gtid(13, 600), map(24, 'd', 't'), insert(24, 3, 650), xid(700)]) a.push(e);
    assert.deepEqual(asked[2], []);
    assert.equal(txns[2]?.schemas[0]?.columns.find((c) => c.name === 'v')?.kind, 'json');
  });
});
