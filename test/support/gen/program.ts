import { ALLOWED_TYPES } from './allowed.js';
import { addColumnDefaults } from './defaults.js';
import type { CaseChoice, DdlChoice, RefusalChoice, StepChoice, StmtChoice } from './choices.js';
import { createTableSql, partitionColumnOk, partitionIndex, typeOf, type TableSpec } from './schema.js';
import { enabled } from './switches.js';
import { ident } from './sql.js';

/** One SQL statement of a program and, for DML, the rows the model says it changes. */
export interface Statement {
  sql: string;
  rows: number | null;
}

export interface ProgramStep {
  label: string;
  statements: Statement[];
  /** A table (of the case database) whose online re-snapshot this step requests with `sdl snapshot --tables`. */
  resnapshot?: string;
  /** Its key has an ENUM or SET part, which sdl cannot page through exactly: the request may be refused. */
  refusable?: boolean;
}

export type OpCounts = Record<'insert' | 'update' | 'delete', number>;

/** A runnable case: SQL per step and what the model says the event log must hold. */
export interface Program {
  db: string;
  setup: Statement[];
  steps: ProgramStep[];
  /** Row changes per table name (as named when the change happened), by op. */
  events: Map<string, OpCounts>;
  /**
   * With CaseChoice.snapshotAt: the step sdl starts before (steps.length: after the last), without
   * a checkpoint, and the changes made before it (no sdl ran; its initial snapshot copies their result).
   */
  initialSnapshot?: { startAt: number; eventsBefore: Map<string, OpCounts> };
  /** Included tables at the end, with their row counts. */
  tables: Map<string, number>;
  /** sdl's include list: every name an included table has at some point (tables named `x…` are left out). */
  include: string[];
  /** For a refusal case: the table it names and the code sdl must stop with (its SQL is the last step). */
  refusal?: { table: string; code: RefusalCode };
}

/** The loud stops agreed across the team for shapes sdl cannot apply exactly. */
export type RefusalCode = 'STATEMENT_FORMAT_DML' | 'PARTIAL_ROW_IMAGE' | 'PRIMARY_KEY_CHANGED';

/** The database a DDL step switches to when it runs from "another" default database. */
export const OTHER_DB = 'gen_other';

interface Row {
  kidx: number[];
  v: number;
}

interface TableModel {
  name: string;
  spec: TableSpec;
  rows: Map<string, Row>;
}

const transactional = (t: TableModel): boolean => t.spec.engine === 'InnoDB';

/** Tables the case's include list leaves out are named `x…`: sdl must not follow them. */
const included = (t: TableModel | string): boolean => !(typeof t === 'string' ? t : t.name).startsWith('x');

/** A key with an ENUM or SET part: sdl refuses an online copy of the table (it cannot page through it exactly). */
const refusableKey = (t: TableModel): boolean => t.spec.keys.some((k) => k.typeId === 'enum' || k.typeId === 'set');

const unpartitioned = (spec: TableSpec): TableSpec => ({ keys: spec.keys, cols: spec.cols, engine: spec.engine });

/**
 * The interpreter and model: turns any choice list into SQL that is valid against the model's
 * tables and keeps, per table, which keys exist and each row's version. Every UPDATE bumps
 * `sdl_v`, so none is a no-op and each logs exactly one row event per matched row.
 */
export class Interpreter {
  private readonly tables: TableModel[] = [];
  private readonly events = new Map<string, OpCounts>();
  private readonly includeNames = new Set<string>();
  private names = 0;
  private stmts: Statement[] = [];

  constructor(readonly db: string) {}

  build(c: CaseChoice): Program {
    const r = c.refusal;
    const setup: Statement[] = [
      { sql: `CREATE DATABASE ${ident(this.db)}`, rows: null },
      { sql: `USE ${ident(this.db)}`, rows: null },
    ];
    for (const spec of c.tables) {
      const name = this.fresh('t');
      this.tables.push({ name, spec, rows: new Map() });
      setup.push({ sql: createTableSql(name, spec), rows: null });
    }
    let before: Map<string, OpCounts> | undefined;
    // sdl refuses (SNAPSHOT_KEY) an initial snapshot of a table whose key has an ENUM or SET part:
    // such a case streams from the start instead.
    const snapshot = (): Map<string, OpCounts> | undefined =>
      this.tables.some((t) => included(t) && refusableKey(t)) ? undefined : new Map([...this.events].map(([k, v]) => [k, { ...v }]));
    let marked = false;
    const steps = c.steps.map((s, i) => {
      if (i === c.snapshotAt) [before, marked] = [snapshot(), true];
      return this.step(s, i);
    });
    if (c.snapshotAt !== undefined && !marked) before = snapshot();
    const program: Program = { db: this.db, setup, steps, events: this.events, tables: new Map(), include: [] };
    if (c.snapshotAt !== undefined && before !== undefined && r === undefined) program.initialSnapshot = { startAt: Math.min(c.snapshotAt, steps.length), eventsBefore: before };
    if (r !== undefined) {
      this.stmts = [];
      const t = this.pickIncluded(r.table);
      if (t !== undefined) {
        program.refusal = { table: t.name, code: this.refusal(t, r) };
        steps.push({ label: `refusal ${program.refusal.code}`, statements: this.stmts });
      }
    }
    program.tables = new Map(this.tables.filter(included).map((t) => [t.name, t.rows.size]));
    program.include = [...this.includeNames];
    return program;
  }

  /** A shape sdl must refuse loudly, on table t; the model still follows what the server did. */
  private refusal(t: TableModel, r: RefusalChoice): RefusalCode {
    switch (r.kind) {
      case 'statementFormat': {
        this.emit(`SET SESSION binlog_format = '${r.mixed ? 'MIXED' : 'STATEMENT'}'`);
        const k = this.freeKey(t, r.a);
        if (k !== undefined) this.insert(t, k, [r.a]);
        else this.stmt(t, { op: 'deleteOdd', table: 0, vals: [r.a] });
        this.emit("SET SESSION binlog_format = 'ROW'");
        return 'STATEMENT_FORMAT_DML';
      }
      case 'partialImage': {
        this.emit(`SET SESSION binlog_row_image = '${r.mixed ? 'NOBLOB' : 'MINIMAL'}'`);
        // NOBLOB leaves out only unchanged BLOB/TEXT columns: give the table one.
        if (r.mixed) this.emit(`ALTER TABLE ${ident(t.name)} ADD COLUMN \`sdl_blob\` BLOB NULL`);
        if (t.rows.size === 0) this.insert(t, this.freeKey(t, r.a) ?? [], [r.a]);
        const row = this.liveRow(t, r.a);
        if (row !== undefined) this.update(t, row, [0]);
        this.emit("SET SESSION binlog_row_image = 'FULL'");
        return 'PARTIAL_ROW_IMAGE';
      }
      case 'primaryKeyChange': {
        const keys = t.spec.keys.map((k) => ident(k.name));
        // A superset of a unique key is unique whatever the rows: this ALTER always succeeds.
        const next = [...keys, '`sdl_v`'];
        this.emit(`ALTER TABLE ${ident(t.name)} DROP PRIMARY KEY, ADD PRIMARY KEY (${next.join(', ')})`);
        return 'PRIMARY_KEY_CHANGED';
      }
    }
  }

  private fresh(prefix: string): string {
    const name = `${prefix}${this.names++}`;
    if (included(name)) this.includeNames.add(name);
    return name;
  }

  private emit(sql: string, rows: number | null = null): void {
    this.stmts.push({ sql, rows });
  }

  private count(t: TableModel, op: keyof OpCounts, n: number): void {
    if (!included(t)) return;
    const c = this.events.get(t.name) ?? { insert: 0, update: 0, delete: 0 };
    c[op] += n;
    this.events.set(t.name, c);
  }

  private step(s: StepChoice, index: number): ProgramStep {
    this.stmts = [];
    if (s.kind === 'resnapshot') {
      const t = this.pickIncluded(s.table);
      // Snapshot rows are reads (op "r"): the model counts nothing and no row changes.
      if (t === undefined) return { label: 'resnapshot (no table)', statements: [] };
      const refusable = t.spec.keys.some((k) => k.typeId === 'enum' || k.typeId === 'set');
      return { label: `resnapshot ${t.name}`, statements: [], resnapshot: t.name, refusable };
    }
    if (s.kind === 'ddl') {
      this.ddl(s.ddl);
      return { label: `ddl ${s.ddl.ddl}`, statements: this.stmts };
    }
    const xa = s.end.startsWith('xa');
    const undo = s.end === 'rollback' || s.end === 'xaRollback' ? this.save() : undefined;
    // Non-transactional tables keep their rows on rollback; only generated when that shape is on.
    const nonTxOk = (undo === undefined || enabled('rollbackWithMyIsam')) && !xa;
    const xid = `'x${this.db}_${index}'`;
    if (s.end === 'commit' || s.end === 'rollback') this.emit('START TRANSACTION');
    if (xa) this.emit(`XA START ${xid}`);
    // Savepoints only where a transaction is explicit and ends in COMMIT or ROLLBACK, and
    // touches no Aria table (MariaDB: "The storage engine for the table doesn't support SAVEPOINT").
    const aria = s.stmts.some((st) => 'table' in st && this.pick(st.table)?.spec.engine === 'Aria');
    const savepoints = (s.end === 'commit' || s.end === 'rollback') && !aria;
    // The live savepoint's restore and how many statements until its ROLLBACK TO.
    let savepoint: { restore: () => void; left: number } | undefined;
    const rollbackTo = (): void => {
      if (savepoint === undefined) return;
      this.emit('ROLLBACK TO SAVEPOINT sp');
      savepoint.restore();
      savepoint = undefined;
    };
    for (const st of s.stmts) {
      if (!('table' in st)) {
        if (!savepoints) continue;
        this.emit('SAVEPOINT sp');
        savepoint = st.undo > 0 ? { restore: this.save(), left: st.undo } : undefined;
        continue;
      }
      const t = this.pick(st.table);
      if (t === undefined || (!transactional(t) && !nonTxOk)) continue;
      this.stmt(t, st);
      if (savepoint !== undefined && --savepoint.left === 0) rollbackTo();
    }
    rollbackTo();
    if (s.end === 'commit') this.emit('COMMIT');
    if (s.end === 'rollback') this.emit('ROLLBACK');
    if (xa) this.emit(`XA END ${xid}`);
    if (s.end === 'xa' || s.end === 'xaRollback') this.emit(`XA PREPARE ${xid}`);
    if (s.end === 'xa') this.emit(`XA COMMIT ${xid}`);
    if (s.end === 'xaOnePhase') this.emit(`XA COMMIT ${xid} ONE PHASE`);
    if (s.end === 'xaRollback') this.emit(`XA ROLLBACK ${xid}`);
    if (undo !== undefined) undo();
    return { label: `txn ${s.end}`, statements: this.stmts };
  }

  /**
   * Snapshot of transactional state; the returned function restores it (a rollback, or a
   * rollback to a savepoint, which can be restored again: it restores copies).
   */
  private save(): () => void {
    const copy = (m: Map<string, Row>): Map<string, Row> => new Map([...m].map(([k, r]) => [k, { ...r, kidx: [...r.kidx] }]));
    const rows = new Map(this.tables.filter(transactional).map((t) => [t, copy(t.rows)]));
    const events = new Map([...this.events].map(([k, v]) => [k, { ...v }]));
    const txNames = new Set(this.tables.filter(transactional).map((t) => t.name));
    return () => {
      for (const [t, r] of rows) t.rows = copy(r);
      for (const [name] of this.events) if (txNames.has(name)) this.events.set(name, events.get(name) ?? { insert: 0, update: 0, delete: 0 });
    };
  }

  private pick(i: number): TableModel | undefined {
    return this.tables.length === 0 ? undefined : this.tables[i % this.tables.length];
  }

  /** The first table from index i on (wrapping) that passes `ok`. */
  private pickWhere(i: number, ok: (t: TableModel) => boolean): TableModel | undefined {
    for (let j = 0; j < this.tables.length; j++) {
      const t = this.pick(i + j);
      if (t !== undefined && ok(t)) return t;
    }
    return undefined;
  }

  private pickIncluded(i: number): TableModel | undefined {
    return this.pickWhere(i, included);
  }

  private keySpace(t: TableModel): number[] {
    return t.spec.keys.map((k) => typeOf(k).keys.length);
  }

  /** The first key tuple at or after choice `a` (mixed radix over the key parts) that is not live. */
  private freeKey(t: TableModel, a: number, taken: Set<string> = new Set(), ok: (kidx: number[]) => boolean = () => true): number[] | undefined {
    const radix = this.keySpace(t);
    const n = radix.reduce((x, y) => x * y, 1);
    for (let j = 0; j < Math.min(n, 5000); j++) {
      let x = (a + j) % n;
      const kidx = radix.map((r) => {
        const d = x % r;
        x = Math.floor(x / r);
        return d;
      });
      const k = kidx.join(',');
      if (!t.rows.has(k) && !taken.has(k) && ok(kidx)) return kidx;
    }
    return undefined;
  }

  private liveRow(t: TableModel, a: number): Row | undefined {
    const rows = [...t.rows.values()];
    return rows.length === 0 ? undefined : rows[a % rows.length];
  }

  private keyLits(t: TableModel, kidx: number[]): string[] {
    return t.spec.keys.map((k, i) => typeOf(k).keys[kidx[i] ?? 0] ?? 'NULL');
  }

  private where(t: TableModel, kidx: number[]): string {
    const lits = this.keyLits(t, kidx);
    return t.spec.keys.map((k, i) => `${ident(k.name)} = ${lits[i]}`).join(' AND ');
  }

  private value(t: TableModel, col: number, vals: number[]): string {
    const c = t.spec.cols[col];
    if (c === undefined) return 'NULL';
    const v = vals[col % vals.length] ?? 0;
    const pool = typeOf(c).values;
    if ((v % 13 === 12 && c.notNull !== true) || pool.length === 0) return 'NULL';
    return pool[(v + col * 7) % pool.length] ?? 'NULL';
  }

  private rowTuple(t: TableModel, kidx: number[], vals: number[]): string {
    return `(${[...this.keyLits(t, kidx), ...t.spec.cols.map((_, i) => this.value(t, i, vals))].join(', ')})`;
  }

  private columnList(t: TableModel): string {
    return [...t.spec.keys, ...t.spec.cols].map((c) => ident(c.name)).join(', ');
  }

  private setClause(t: TableModel, vals: number[]): string {
    const parts = ['`sdl_v` = `sdl_v` + 1'];
    const col = (vals[0] ?? 0) % (t.spec.cols.length + 1);
    if (col < t.spec.cols.length) parts.push(`${ident(t.spec.cols[col]?.name ?? '')} = ${this.value(t, col, vals.slice(1).concat(vals))}`);
    return parts.join(', ');
  }

  private insert(t: TableModel, kidx: number[], vals: number[]): void {
    this.emit(`INSERT INTO ${ident(t.name)} (${this.columnList(t)}) VALUES ${this.rowTuple(t, kidx, vals)}`, 1);
    t.rows.set(kidx.join(','), { kidx, v: 0 });
    this.count(t, 'insert', 1);
  }

  private update(t: TableModel, r: Row, vals: number[]): void {
    this.emit(`UPDATE ${ident(t.name)} SET ${this.setClause(t, vals)} WHERE ${this.where(t, r.kidx)}`, 1);
    r.v++;
    this.count(t, 'update', 1);
  }

  private remove(t: TableModel, r: Row): void {
    this.emit(`DELETE FROM ${ident(t.name)} WHERE ${this.where(t, r.kidx)}`, 1);
    t.rows.delete(r.kidx.join(','));
    this.count(t, 'delete', 1);
  }

  private stmt(t: TableModel, s: StmtChoice): void {
    switch (s.op) {
      case 'savepoint':
        return; // handled by step(): they name no table
      case 'insert': {
        const k = this.freeKey(t, s.a);
        if (k !== undefined) this.insert(t, k, s.vals);
        return;
      }
      case 'insertBulk': {
        const taken = new Set<string>();
        const keys: number[][] = [];
        for (let i = 0; i < s.n; i++) {
          const k = this.freeKey(t, s.a + i * 31, taken);
          if (k === undefined) break;
          taken.add(k.join(','));
          keys.push(k);
        }
        if (keys.length === 0) return;
        const tuples = keys.map((k, i) => this.rowTuple(t, k, s.vals.map((v) => v + i)));
        this.emit(`INSERT INTO ${ident(t.name)} (${this.columnList(t)}) VALUES ${tuples.join(', ')}`, keys.length);
        for (const k of keys) t.rows.set(k.join(','), { kidx: k, v: 0 });
        this.count(t, 'insert', keys.length);
        return;
      }
      case 'update':
      case 'updateMany': {
        const r = this.liveRow(t, s.a);
        if (r === undefined) return this.stmt(t, { ...s, op: 'insert' });
        const times = s.op === 'update' ? 1 : 2 + (s.a % 5);
        for (let i = 0; i < times; i++) this.update(t, r, s.vals.map((v) => v + i));
        return;
      }
      case 'changeKey': {
        const r = this.liveRow(t, s.a);
        if (r === undefined) return;
        const radix = this.keySpace(t);
        const first = radix[0] ?? 1;
        for (let j = 1; j < first; j++) {
          const kidx = [((r.kidx[0] ?? 0) + j) % first, ...r.kidx.slice(1)];
          if (t.rows.has(kidx.join(','))) continue;
          const k0 = t.spec.keys[0];
          if (k0 === undefined) return;
          this.emit(`UPDATE ${ident(t.name)} SET ${ident(k0.name)} = ${this.keyLits(t, kidx)[0]}, \`sdl_v\` = \`sdl_v\` + 1 WHERE ${this.where(t, r.kidx)}`, 1);
          t.rows.delete(r.kidx.join(','));
          t.rows.set(kidx.join(','), { kidx, v: r.v + 1 });
          this.count(t, 'update', 1);
          return;
        }
        return;
      }
      case 'delete': {
        const r = this.liveRow(t, s.a);
        if (r !== undefined) this.remove(t, r);
        return;
      }
      case 'reinsert': {
        const r = this.liveRow(t, s.a);
        if (r === undefined) return;
        this.remove(t, r);
        this.insert(t, r.kidx, s.vals);
        return;
      }
      case 'updateAll': {
        this.emit(`UPDATE ${ident(t.name)} SET ${this.setClause(t, s.vals)}`, t.rows.size);
        for (const r of t.rows.values()) r.v++;
        this.count(t, 'update', t.rows.size);
        return;
      }
      case 'deleteOdd': {
        const odd = [...t.rows.entries()].filter(([, r]) => r.v % 2 === 1);
        this.emit(`DELETE FROM ${ident(t.name)} WHERE \`sdl_v\` % 2 = 1`, odd.length);
        for (const [k] of odd) t.rows.delete(k);
        this.count(t, 'delete', odd.length);
        return;
      }
    }
  }

  /** DDL runs from the case database, or (crossDbDdl) from another one naming the table in full. */
  private ddlSql(d: DdlChoice, sql: (name: (t: string) => string) => string): void {
    if (!d.otherDb) return this.emit(sql(ident));
    this.emit(`USE ${ident(OTHER_DB)}`);
    this.emit(sql((t) => `${ident(this.db)}.${ident(t)}`));
    this.emit(`USE ${ident(this.db)}`);
  }

  /**
   * With alterRewritesMirror off, an ALTER of columns is followed by a rewrite of every row. On,
   * only an ALTER that changes stored values (`stale`) of a table whose online copy sdl refuses
   * (an ENUM/SET key part, README) is: the mirror of such a table stays stale until repaired.
   */
  private rewriteAll(t: TableModel, stale = false): void {
    if ((enabled('alterRewritesMirror') && !(stale && refusableKey(t))) || t.rows.size === 0) return;
    this.emit(`UPDATE ${ident(t.name)} SET \`sdl_v\` = \`sdl_v\` + 1`, t.rows.size);
    for (const r of t.rows.values()) r.v++;
    this.count(t, 'update', t.rows.size);
  }

  private ddl(d: DdlChoice): void {
    const t = this.pick(d.table);
    if (t === undefined) return;
    switch (d.ddl) {
      case 'addColumn': {
        const types = ALLOWED_TYPES.filter((x) => x.values.length > 0 && (t.spec.partition === undefined || partitionColumnOk(x.type.id)));
        const type = types[d.a % types.length];
        if (type === undefined) return;
        const name = `${this.fresh('a')}_${type.type.id}`;
        // One in two: existing rows take a default no row event carries (sdl re-snapshots the table).
        const defaults = addColumnDefaults(type.type, type.values);
        const def = Math.floor(d.a / types.length) % 2 === 0 && defaults.length > 0 ? defaults[d.a % defaults.length] : undefined;
        const null_ = def === undefined ? 'NULL' : `NOT NULL DEFAULT ${def.sql}`;
        this.ddlSql(d, (n) => `ALTER TABLE ${n(t.name)} ADD COLUMN ${ident(name)} ${type.type.sql} ${null_}`);
        t.spec = { ...t.spec, cols: [...t.spec.cols, { name, typeId: type.type.id, ...(def !== undefined ? { notNull: true } : {}) }] };
        // A TIMESTAMP column is stale too without a DEFAULT: sdl cannot know the value existing
        // rows take (explicit_defaults_for_timestamp), so it copies the table, as after a DEFAULT.
        return this.rewriteAll(t, def !== undefined || /\bTIMESTAMP\b/i.test(type.type.sql));
      }
      case 'dropColumn': {
        const c = t.spec.cols[d.a % Math.max(1, t.spec.cols.length)];
        if (c === undefined) return;
        this.ddlSql(d, (n) => `ALTER TABLE ${n(t.name)} DROP COLUMN ${ident(c.name)}`);
        t.spec = { ...t.spec, cols: t.spec.cols.filter((x) => x !== c) };
        return this.rewriteAll(t);
      }
      case 'modifyColumn': {
        const widenable = t.spec.cols.filter((c) => typeOf(c).type.widen !== undefined);
        const c = widenable[d.a % Math.max(1, widenable.length)];
        if (c === undefined) return;
        this.ddlSql(d, (n) => `ALTER TABLE ${n(t.name)} MODIFY COLUMN ${ident(c.name)} ${typeOf(c).type.widen ?? ''} NULL`);
        t.spec = { ...t.spec, cols: t.spec.cols.map((x) => (x === c ? { name: x.name, typeId: x.typeId } : x)) };
        return this.rewriteAll(t, true);
      }
      case 'renameColumn': {
        const i = d.a % Math.max(1, t.spec.cols.length);
        const c = t.spec.cols[i];
        if (c === undefined) return;
        const name = `${this.fresh('r')}_${c.typeId}`;
        this.ddlSql(d, (n) => `ALTER TABLE ${n(t.name)} RENAME COLUMN ${ident(c.name)} TO ${ident(name)}`);
        t.spec = { ...t.spec, cols: t.spec.cols.map((x, j) => (j === i ? { ...x, name } : x)) };
        return this.rewriteAll(t);
      }
      case 'renameTable': {
        const name = this.fresh('t');
        this.ddlSql(d, (n) => `RENAME TABLE ${n(t.name)} TO ${n(name)}`);
        t.name = name;
        return;
      }
      case 'truncate':
        this.ddlSql(d, (n) => `TRUNCATE TABLE ${n(t.name)}`);
        t.rows = new Map();
        return;
      case 'dropRecreate':
        this.ddlSql(d, (n) => `DROP TABLE ${n(t.name)}`);
        this.ddlSql(d, (n) => createTableSql(t.name, d.spec).replace(`CREATE TABLE ${ident(t.name)}`, `CREATE TABLE ${n(t.name)}`));
        t.spec = d.spec;
        t.rows = new Map();
        return;
      case 'createOrReplace':
        this.ddlSql(d, (n) => createTableSql(t.name, d.spec, 'CREATE OR REPLACE TABLE').replace(ident(t.name), n(t.name)));
        t.spec = d.spec;
        t.rows = new Map();
        return;
      case 'createTable': {
        const name = this.fresh('t');
        this.ddlSql(d, (n) => createTableSql(name, d.spec).replace(ident(name), n(name)));
        this.tables.push({ name, spec: d.spec, rows: new Map() });
        return;
      }
      case 'createSelect': {
        const name = this.fresh('t');
        const keys = t.spec.keys.map((k) => ident(k.name)).join(', ');
        this.ddlSql(d, (n) => `CREATE TABLE ${n(name)} (PRIMARY KEY (${keys})) ENGINE=InnoDB SELECT * FROM ${n(t.name)}`);
        const copy: TableModel = { name, spec: { ...unpartitioned(t.spec), engine: 'InnoDB' }, rows: new Map([...t.rows].map(([k, r]) => [k, { ...r }])) };
        this.tables.push(copy);
        this.count(copy, 'insert', copy.rows.size);
        return;
      }
      case 'dropPartition':
      case 'truncatePartition':
      case 'exchangePartition':
        return this.partitionDdl(d);
      case 'swapIn':
        return this.swapIn(d);
    }
  }

  /** The partition holding the row with key kidx (t must be partitioned). */
  private partOf(t: TableModel, kidx: number[]): number {
    return t.spec.partition === undefined ? 0 : partitionIndex(t.spec.partition, this.keyLits(t, kidx));
  }

  /**
   * Partition maintenance: the binlog carries the statement only, and the model moves or drops
   * exactly the rows of the partition.
   */
  private partitionDdl(d: Extract<DdlChoice, { ddl: 'dropPartition' | 'truncatePartition' | 'exchangePartition' }>): void {
    // DROP PARTITION is for RANGE only, and never of the MAXVALUE partition (keys past the last bound would have none).
    const t = this.pickWhere(d.table, (x) => x.spec.partition !== undefined && (d.ddl !== 'dropPartition' || (x.spec.partition.by === 'range' && x.spec.partition.names.length > 1)));
    const p = t?.spec.partition;
    if (t === undefined || p === undefined) return;
    const i = d.a % (d.ddl === 'dropPartition' ? p.names.length - 1 : p.names.length);
    const name = p.names[i] ?? '';
    const inside = [...t.rows.entries()].filter(([, r]) => this.partOf(t, r.kidx) === i);
    if (d.ddl !== 'exchangePartition') {
      const clause = d.ddl === 'dropPartition' ? 'DROP' : 'TRUNCATE';
      this.ddlSql(d, (n) => `ALTER TABLE ${n(t.name)} ${clause} PARTITION ${ident(name)}`);
      for (const [k] of inside) t.rows.delete(k);
      if (d.ddl === 'dropPartition' && p.by === 'range') {
        // The dropped range joins the next partition.
        t.spec = { ...t.spec, partition: { ...p, bounds: p.bounds.filter((_, j) => j !== i), names: p.names.filter((_, j) => j !== i) } };
      }
      return;
    }
    // The partner: the same structure (LIKE), not partitioned, holding only rows of partition i.
    const x: TableModel = { name: this.fresh(d.included ? 't' : 'x'), spec: unpartitioned(t.spec), rows: new Map() };
    this.ddlSql(d, (n) => `CREATE TABLE ${n(x.name)} LIKE ${n(t.name)}`);
    this.ddlSql(d, (n) => `ALTER TABLE ${n(x.name)} REMOVE PARTITIONING`);
    this.tables.push(x);
    for (let j = 0; j < d.n; j++) {
      const k = this.freeKey(x, d.a + j * 17, new Set(), (kidx) => this.partOf(t, kidx) === i);
      if (k !== undefined) this.insert(x, k, [d.a + j]);
    }
    this.ddlSql(d, (n) => `ALTER TABLE ${n(t.name)} EXCHANGE PARTITION ${ident(name)} WITH TABLE ${n(x.name)}`);
    const theirs = x.rows;
    x.rows = new Map(inside);
    for (const [k] of inside) t.rows.delete(k);
    for (const [k, r] of theirs) t.rows.set(k, r);
  }

  /**
   * The swap of a table rebuilt under another name: t_new (left out of the include list) takes
   * t's name, and sdl has never seen its rows. Not on a table whose online copy sdl refuses.
   */
  private swapIn(d: Extract<DdlChoice, { ddl: 'swapIn' }>): void {
    const t = this.pickWhere(d.table, (x) => included(x) && !refusableKey(x));
    if (t === undefined) return;
    const fresh: TableModel = { name: this.fresh('x'), spec: t.spec, rows: new Map() };
    this.ddlSql(d, (n) => `CREATE TABLE ${n(fresh.name)} LIKE ${n(t.name)}`);
    this.tables.push(fresh);
    for (let j = 0; j < d.n; j++) {
      const k = this.freeKey(fresh, d.a + j * 17);
      if (k !== undefined) this.insert(fresh, k, [d.a + j]);
    }
    const old = this.fresh(d.included ? 't' : 'x');
    this.ddlSql(d, (n) => `RENAME TABLE ${n(t.name)} TO ${n(old)}, ${n(fresh.name)} TO ${n(t.name)}`);
    fresh.name = t.name;
    t.name = old;
  }
}

/** The program as SQL a person can paste into `mariadb` to replay the case by hand. */
export function programSql(p: Program, faults: Map<number, string[]> = new Map()): string {
  const lines = ["SET SESSION sql_mode = '', time_zone = '+00:00';", ...p.setup.map((s) => `${s.sql};`)];
  const start = '-- sdl run starts here, without a checkpoint (initial snapshot)';
  p.steps.forEach((s, i) => {
    if (i === p.initialSnapshot?.startAt) lines.push(start);
    lines.push(`-- step ${i}: ${s.label}`);
    for (const st of s.statements) lines.push(`${st.sql};`);
    if (s.resnapshot !== undefined) lines.push(`-- sdl snapshot --tables ${p.db}.${s.resnapshot}   (in the background, beside the next steps)`);
    for (const f of faults.get(i) ?? []) lines.push(`-- FAULT after step ${i}: ${f}`);
  });
  if (p.initialSnapshot?.startAt === p.steps.length) lines.push(start);
  return lines.join('\n');
}
