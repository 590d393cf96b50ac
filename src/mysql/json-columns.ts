import type { Connection } from 'mysql2/promise';
import { parseDdl, type DdlAction, type TableRef } from '../mongo/ddl-parse.js';
import type { JsonColumnsState } from '../pipeline/types.js';
import { jsonEffectOfAlter, jsonEffectOfCreate, type JsonEdit } from './json-ddl.js';

/**
 * Which columns are MariaDB JSON (LONGTEXT with a `json_valid` check) at the reader's position.
 * information_schema only describes the tables of now; a backlog row of a table renamed,
 * dropped or altered since would be typed by the wrong table. So the reader starts from what
 * was true at its start position (saved with the checkpoint, or read from the server when the
 * pipeline starts fresh) and follows every DDL in the stream. Where a statement cannot be read
 * with certainty the table becomes unknown, and only then is the server asked (today's answer,
 * right unless that table changed again since).
 */
export class JsonColumns {
  /** Tables with JSON columns (or, when not `complete`, every table learned); column names in lower case. */
  private readonly known = new Map<string, ReadonlySet<string>>();
  /** Tables whose columns must be asked of the server. */
  private readonly unknown = new Set<string>();
  /** Tables neither known nor unknown have no JSON column. False after a statement sdl could not place. */
  private complete: boolean;
  private cached: JsonColumnsState | undefined;

  private constructor(state: JsonColumnsState) {
    this.complete = state.complete;
    for (const t of state.tables) this.known.set(key(t.db, t.table), new Set(t.columns.map((c) => c.toLowerCase())));
    for (const t of state.unknown) this.unknown.add(key(t.db, t.table));
    this.cached = state;
  }

  static fromState(state: JsonColumnsState): JsonColumns {
    return new JsonColumns(state);
  }

  /** Every JSON column of the server now: the state of a pipeline that starts here. */
  static async read(conn: Connection): Promise<JsonColumns> {
    const [rows] = await conn.query(
      "SELECT CONSTRAINT_SCHEMA AS db, TABLE_NAME AS t, CHECK_CLAUSE AS c FROM information_schema.CHECK_CONSTRAINTS WHERE CHECK_CLAUSE LIKE 'json_valid(%'");
    const tables = new Map<string, { db: string; table: string; columns: string[] }>();
    for (const r of rows as { db: string; t: string; c: string }[]) {
      const column = jsonValidColumn(r.c);
      if (column === undefined) continue;
      const k = key(r.db, r.t);
      const entry = tables.get(k) ?? { db: r.db, table: r.t, columns: [] };
      entry.columns.push(column.toLowerCase());
      tables.set(k, entry);
    }
    return new JsonColumns({ complete: true, tables: [...tables.values()], unknown: [] });
  }

  /** The JSON columns of a table at the current position; undefined when the server must be asked. */
  get(db: string, table: string): ReadonlySet<string> | undefined {
    const k = key(db, table);
    if (this.unknown.has(k)) return undefined;
    return this.known.get(k) ?? (this.complete ? NONE : undefined);
  }

  /** What the server answered for a table no statement changed since it was asked. */
  learned(db: string, table: string, columns: ReadonlySet<string>): void {
    const k = key(db, table);
    this.unknown.delete(k);
    this.set(k, new Set([...columns].map((c) => c.toLowerCase())));
  }

  /** Follows one DDL statement, in stream order. */
  applyDdl(statement: string, defaultDb: string, lowerCaseNames: boolean): void {
    const action = parseDdl(statement, defaultDb, { lowerCaseNames });
    this.cached = undefined;
    this.apply(action, statement, defaultDb, lowerCaseNames);
  }

  /** Plain data for the checkpoint; the same object until something changes. */
  state(): JsonColumnsState {
    this.cached ??= {
      complete: this.complete,
      tables: [...this.known].filter(([, cols]) => !this.complete || cols.size > 0).map(([k, cols]) => ({ ...split(k), columns: [...cols] })),
      unknown: [...this.unknown].map(split),
    };
    return this.cached;
  }

  private apply(action: DdlAction, statement: string, defaultDb: string, lower: boolean): void {
    switch (action.kind) {
      case 'drop':
        for (const t of action.tables) this.forget(t);
        return;
      case 'drop-database':
        for (const k of [...this.known.keys(), ...this.unknown]) if (split(k).db === action.db) this.forget(split(k));
        return;
      case 'rename':
        for (const { from, to } of action.pairs) {
          const cols = this.get(from.db, from.table);
          this.forget(from);
          if (cols === undefined) this.markUnknown(to);
          else this.setKnown(to, cols);
        }
        return;
      case 'create':
      case 'replace': {
        const fx = jsonEffectOfCreate(statement, defaultDb, lower);
        if (fx.kind === 'define') this.setKnown(action.table, new Set(fx.columns.map((c) => c.toLowerCase())));
        else if (fx.kind === 'like') {
          const cols = this.get(fx.source.db, fx.source.table);
          if (cols === undefined) this.markUnknown(action.table);
          else this.setKnown(action.table, cols);
        } else this.markUnknown(action.table);
        return;
      }
      case 'alter': {
        const fx = jsonEffectOfAlter(statement);
        const cols = this.get(action.table.db, action.table.table);
        const after = fx.kind === 'edit' && cols !== undefined ? edited(cols, fx.edits) : undefined;
        if (after === undefined) this.markUnknown(action.table);
        else this.setKnown(action.table, after);
        return;
      }
      case 'truncate':
        return;
      case 'other':
        if (action.tables !== undefined) {
          // CREATE/DROP INDEX … ON t: no column changes.
          if (/^\s*(?:CREATE\s+(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?INDEX|DROP\s+INDEX)\b/i.test(statement)) return;
          for (const t of action.tables) this.markUnknown(t);
        } else if (/\bTABLES?\b/i.test(statement) && !/\bTEMPORARY\b/i.test(statement)
          && !/^\s*(?:GRANT|REVOKE|FLUSH|LOCK|UNLOCK|ANALYZE|OPTIMIZE|CHECK|REPAIR|SHOW)\b/i.test(statement)) {
          // A table statement sdl could not read: any table may have changed.
          this.known.clear();
          this.unknown.clear();
          this.complete = false;
        }
    }
  }

  private set(k: string, cols: ReadonlySet<string>): void {
    this.cached = undefined;
    if (cols.size === 0 && this.complete) this.known.delete(k);
    else this.known.set(k, cols);
  }

  private setKnown(t: TableRef, cols: ReadonlySet<string>): void {
    const k = key(t.db, t.table);
    this.unknown.delete(k);
    this.set(k, cols);
  }

  private markUnknown(t: TableRef): void {
    const k = key(t.db, t.table);
    this.known.delete(k);
    this.unknown.add(k);
    this.cached = undefined;
  }

  /** A dropped table: a later one of that name is known by its CREATE. */
  private forget(t: TableRef): void {
    const k = key(t.db, t.table);
    this.known.delete(k);
    this.unknown.delete(k);
    this.cached = undefined;
  }
}

const NONE: ReadonlySet<string> = new Set();

/** `json_valid(`col`)` → col; any other clause is not a JSON column's check. */
export function jsonValidColumn(clause: string): string | undefined {
  const m = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(clause.trim());
  return m?.[1]?.replace(/``/g, '`');
}

/** The JSON columns (lower case) after the edits; undefined when they cannot be known. */
function edited(cols: ReadonlySet<string>, edits: readonly JsonEdit[]): Set<string> | undefined {
  const out = new Set(cols);
  const lc = (c: string): string => c.toLowerCase();
  for (const e of edits) {
    if (e.op === 'add') out.add(lc(e.column));
    else if (e.op === 'remove') out.delete(lc(e.column));
    else if (e.op === 'redefine') {
      // Its own check is gone; a table constraint naming it would stay.
      if (out.has(lc(e.column))) return undefined;
      out.delete(lc(e.to));
    } else if (out.delete(lc(e.from))) out.add(lc(e.to));
  }
  return out;
}

function key(db: string, table: string): string {
  return `${db}\u0000${table}`;
}

function split(k: string): TableRef {
  const i = k.indexOf('\u0000');
  return { db: k.slice(0, i), table: k.slice(i + 1) };
}
