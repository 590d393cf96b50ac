import { resnapshotHint } from './resnapshot-hint.js';
import { SdlError, type SdlCode } from '../errors.js';
import { ddlTables, parseDdl, type DdlAction, type TableRef } from '../mongo/ddl-parse.js';
import type { RowlessCopies, SchemaChange } from '../pipeline/types.js';
import type { IncludeFilter } from './include-filter.js';
import type { BinlogColumn } from './table-schema.js';

/**
 * Judges DDL statements as the reader passes them: which concern included tables (by the
 * tables a statement names, not the session's default database), what they do to mirrors, and
 * which change a table's key so that its mirror's `_id`s no longer match, a loud stop.
 */
export class SchemaChanges {
  /** Key column names per included table as its last TableMap said. */
  private readonly keys = new Map<string, string[]>();

  constructor(
    private readonly include: IncludeFilter,
    private readonly lowerCaseNames: boolean,
    /** The columns of the table's last TableMap, if one passed. */
    private readonly columnsOf: (db: string, table: string) => BinlogColumn[] | undefined,
  ) {}

  /** The schema_history record of a table DDL, or undefined when it concerns no included table. `where` names its position. */
  judge(statement: string, defaultDb: string, where: string): SchemaChange | undefined {
    const action = parseDdl(statement, defaultDb, { lowerCaseNames: this.lowerCaseNames });
    const tables = ddlTables(action);
    let included: boolean;
    if (action.kind === 'drop-database') included = this.include.includesDb(action.db);
    else if (tables.length > 0) included = tables.some((t) => this.include.includes(t.db, t.table));
    else included = this.include.includesDb(qualifiedDb(statement) ?? defaultDb);
    this.forgetKeys(action);
    if (!included) return undefined;
    if (action.kind === 'alter') {
      this.matchColumnCase(action);
      const known = this.keys.get(tableKey(action.table.db, action.table.table));
      const touched = [...action.modifyColumns, ...action.dropColumns, ...action.renameColumns.map((r) => r.from)];
      const keyColumn = known?.find((k) => touched.some((c) => c.toLowerCase() === k.toLowerCase()));
      if (action.primaryKey || keyColumn !== undefined) {
        const name = tableKey(action.table.db, action.table.table);
        throw permanentStop('PRIMARY_KEY_CHANGED',
          `\`${statement.slice(0, 200)}\` at ${where} changes ${keyColumn === undefined ? 'the primary key' : `key column ${name}.${keyColumn}`} of ${name}: its mirror is keyed by the old key`,
          name, 'change keys of replicated tables only with sdl stopped and a re-snapshot planned');
      }
    }
    if (action.kind === 'rename') {
      const leaving = renamedOut(action.pairs, this.include);
      if (leaving.length > 0) action.leaving = leaving;
    }
    const copies = rowlessCopies(action, this.include);
    return { db: defaultDb, statement, action, ...(copies !== undefined ? { copies } : {}) };
  }

  /** Every TableMap of an included table: a key other than the last one seen means a stale mirror. */
  tableMapKey(db: string, table: string, key: string[], where: string): void {
    const name = tableKey(db, table);
    const known = this.keys.get(name);
    this.keys.set(name, key);
    if (known === undefined || known.join('\u0000') === key.join('\u0000')) return;
    throw permanentStop('PRIMARY_KEY_CHANGED',
      `the key of ${name} changed from (${known.join(', ')}) to (${key.join(', ')}) before the transaction at ${where}: its mirror is keyed by the old key`,
      name, 'change keys of replicated tables only with sdl stopped and a re-snapshot planned');
  }

  /**
   * Column names are case-insensitive in DDL text but mirror fields carry the case of the
   * table's definition: spell dropped and renamed columns as the table's last TableMap does.
   */
  private matchColumnCase(action: Extract<DdlAction, { kind: 'alter' }>): void {
    const columns = this.columnsOf(action.table.db, action.table.table);
    if (columns === undefined) return;
    const spell = (name: string): string => columns.find((c) => c.name.toLowerCase() === name.toLowerCase())?.name ?? name;
    action.dropColumns = action.dropColumns.map(spell);
    action.renameColumns = action.renameColumns.map((r) => ({ from: spell(r.from), to: r.to }));
    action.modifyColumns = action.modifyColumns.map(spell);
  }

  /** A table dropped, replaced or renamed starts a new key history (its mirror went with it). */
  private forgetKeys(action: DdlAction): void {
    if (action.kind === 'drop-database') {
      for (const k of [...this.keys.keys()]) if (k.startsWith(`${action.db}.`)) this.keys.delete(k);
    } else if (action.kind !== 'alter') {
      for (const t of ddlTables(action)) this.keys.delete(tableKey(t.db, t.table));
    }
  }
}

/**
 * The included tables whose stored rows a statement changed without row events: ALTERs that
 * rewrite values or move partitions (the partner table of an EXCHANGE too), and a RENAME that
 * gives an included name to a table sdl did not follow (the swap of a table rebuilt under
 * another name).
 */
export function rowlessCopies(a: DdlAction, include: IncludeFilter): RowlessCopies | undefined {
  if (a.kind === 'alter' && a.stale.length > 0) {
    const tables = [a.table, ...(a.partners ?? [])].filter((t) => include.includes(t.db, t.table));
    return tables.length === 0 ? undefined : { tables, why: a.stale };
  }
  if (a.kind !== 'rename') return undefined;
  const arrived = a.pairs.filter((p) => !include.includes(p.from.db, p.from.table) && include.includes(p.to.db, p.to.table)).map((p) => p.to);
  return arrived.length === 0 ? undefined : { tables: arrived, why: ['RENAME from a table that is not included'] };
}

/**
 * The names a RENAME ends with that the include list leaves out: a mirror renamed there would
 * stay behind, frozen, for a table sdl no longer follows. A name renamed away again later in
 * the same statement is not an end.
 */
export function renamedOut(pairs: { from: TableRef; to: TableRef }[], include: IncludeFilter): TableRef[] {
  const same = (a: TableRef, b: TableRef): boolean => a.db === b.db && a.table === b.table;
  return pairs.filter((p, i) => !include.includes(p.to.db, p.to.table) && !pairs.slice(i + 1).some((q) => same(q.from, p.to))).map((p) => p.to);
}

/** A stop that needs the table re-snapshotted; `prevent` says how to avoid it at the source. */
export function permanentStop(code: SdlCode, what: string, table: string, prevent: string): SdlError {
  return new SdlError(code, what, 'permanent',
    `${resnapshotHint([table])}; to prevent it, ${prevent}`);
}

function tableKey(db: string, table: string): string {
  return `${db}.${table}`;
}

/** For statements parseDdl cannot read: the database of the first qualified name, if any. */
function qualifiedDb(stmt: string): string | undefined {
  const m = /\b(?:TABLE|DATABASE|SCHEMA)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?`?([^`.\s]+)`?\./i.exec(stmt);
  return m?.[1];
}
