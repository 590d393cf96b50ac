import { tokenize, type TableRef } from '../mongo/ddl-parse.js';

/**
 * What a CREATE or ALTER TABLE statement says about its table's MariaDB JSON columns (LONGTEXT
 * with a `CHECK (json_valid(col))`, which the `JSON` type name declares). Read from the
 * statement text because information_schema only knows today's tables, while the reader needs
 * the columns as they were at the statement's position. Anything not read with certainty is
 * `unknown`, and the reader asks the server then.
 */
export type JsonEffect =
  /** CREATE TABLE t (…): exactly these columns are JSON. */
  | { kind: 'define'; columns: string[] }
  /** CREATE TABLE t LIKE s: as s. */
  | { kind: 'like'; source: TableRef }
  /** ALTER TABLE: these edits, in order. */
  | { kind: 'edit'; edits: JsonEdit[] }
  | { kind: 'unknown' };

export type JsonEdit =
  | { op: 'add'; column: string }
  | { op: 'remove'; column: string }
  | { op: 'rename'; from: string; to: string }
  /**
   * MODIFY / CHANGE without a JSON check: the column's own check is gone, but one written as a
   * table constraint stays, and which kind it was is not in the statement.
   */
  | { op: 'redefine'; column: string; to: string };

type Token = NonNullable<ReturnType<typeof tokenize>>[number];

const TABLE_ELEMENT_KEYWORDS = new Set(['PRIMARY', 'KEY', 'INDEX', 'UNIQUE', 'FOREIGN', 'FULLTEXT', 'SPATIAL', 'PERIOD', 'CONSTRAINT', 'CHECK']);

function isWord(t: Token | undefined, ...words: string[]): boolean {
  return t?.t === 'id' && !t.quoted && words.includes(t.v.toUpperCase());
}

function isPunct(t: Token | undefined, p: string): boolean {
  return t?.t === 'p' && t.v === p;
}

/** Splits tokens at top-level commas. */
function splitTopLevel(toks: Token[]): Token[][] {
  const out: Token[][] = [];
  let depth = 0;
  let cur: Token[] = [];
  for (const t of toks) {
    if (depth === 0 && isPunct(t, ',')) {
      out.push(cur);
      cur = [];
      continue;
    }
    if (isPunct(t, '(')) depth++;
    else if (isPunct(t, ')')) depth--;
    cur.push(t);
  }
  out.push(cur);
  return out;
}

/** The column named by every `CHECK (json_valid(col))` in the tokens (the server's rule is that exact clause). */
function jsonChecks(toks: Token[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 6 < toks.length; i++) {
    const col = toks[i + 4];
    if (isWord(toks[i], 'CHECK') && isPunct(toks[i + 1], '(') && isWord(toks[i + 2], 'JSON_VALID') && isPunct(toks[i + 3], '(')
      && col?.t === 'id' && isPunct(toks[i + 5], ')') && isPunct(toks[i + 6], ')')) out.push(col.v);
  }
  return out;
}

/** A column definition (name first): is it JSON? */
function columnDefIsJson(def: Token[]): boolean {
  const name = def[0];
  if (name?.t !== 'id') return false;
  if (isWord(def[1], 'JSON')) return true;
  return jsonChecks(def.slice(1)).some((c) => c.toLowerCase() === name.v.toLowerCase());
}

/** The tokens inside the parentheses that open at `open`, and the index after the closing one. */
function parenthesized(toks: Token[], open: number): { inner: Token[]; next: number } | undefined {
  if (!isPunct(toks[open], '(')) return undefined;
  let depth = 0;
  for (let i = open; i < toks.length; i++) {
    if (isPunct(toks[i], '(')) depth++;
    else if (isPunct(toks[i], ')') && --depth === 0) return { inner: toks.slice(open + 1, i), next: i + 1 };
  }
  return undefined;
}

/** The index after a (possibly qualified) table name at `i`. */
function skipTableName(toks: Token[], i: number): number {
  return isPunct(toks[i + 1], '.') ? i + 3 : i + 1;
}

export function jsonEffectOfCreate(statement: string, defaultDb: string, lowerCaseNames: boolean): JsonEffect {
  const toks = tokenize(statement);
  if (toks === undefined) return { kind: 'unknown' };
  let i = 0;
  if (!isWord(toks[i++], 'CREATE')) return { kind: 'unknown' };
  if (isWord(toks[i], 'OR') && isWord(toks[i + 1], 'REPLACE')) i += 2;
  if (!isWord(toks[i++], 'TABLE')) return { kind: 'unknown' };
  // IF NOT EXISTS may leave an older table of another shape in place.
  if (isWord(toks[i], 'IF')) return { kind: 'unknown' };
  i = skipTableName(toks, i);
  const like = isPunct(toks[i], '(') && isWord(toks[i + 1], 'LIKE') ? i + 1 : isWord(toks[i], 'LIKE') ? i : -1;
  if (like >= 0) {
    const first = toks[like + 1];
    const second = isPunct(toks[like + 2], '.') ? toks[like + 3] : undefined;
    if (first?.t !== 'id') return { kind: 'unknown' };
    const name = (v: string): string => (lowerCaseNames ? v.toLowerCase() : v);
    return { kind: 'like', source: second?.t === 'id' ? { db: name(first.v), table: name(second.v) } : { db: name(defaultDb), table: name(first.v) } };
  }
  const body = parenthesized(toks, i);
  // CREATE … SELECT: columns that come only from the query have no check (MariaDB copies none);
  // those the statement defines are as defined.
  if (body === undefined) return toks.slice(i).some((t) => isWord(t, 'SELECT')) ? { kind: 'define', columns: [] } : { kind: 'unknown' };
  const columns: string[] = [];
  for (const el of splitTopLevel(body.inner)) {
    if (el.length === 0) continue;
    if (TABLE_ELEMENT_KEYWORDS.has(el[0]?.t === 'id' && !el[0].quoted ? el[0].v.toUpperCase() : '')) {
      columns.push(...jsonChecks(el));
    } else if (columnDefIsJson(el)) {
      columns.push(el[0].v);
    }
  }
  return { kind: 'define', columns };
}

export function jsonEffectOfAlter(statement: string): JsonEffect {
  const toks = tokenize(statement);
  if (toks === undefined) return { kind: 'unknown' };
  let i = 0;
  if (!isWord(toks[i++], 'ALTER')) return { kind: 'unknown' };
  while (isWord(toks[i], 'ONLINE', 'IGNORE')) i++;
  if (!isWord(toks[i++], 'TABLE')) return { kind: 'unknown' };
  if (isWord(toks[i], 'IF') && isWord(toks[i + 1], 'EXISTS')) i += 2;
  i = skipTableName(toks, i);
  if (isWord(toks[i], 'WAIT')) i += 2;
  else if (isWord(toks[i], 'NOWAIT')) i++;
  const edits: JsonEdit[] = [];
  for (const clause of splitTopLevel(toks.slice(i))) {
    const e = alterClause(clause);
    if (e === undefined) return { kind: 'unknown' };
    edits.push(...e);
  }
  return { kind: 'edit', edits };
}

/** The edits of one ALTER clause; undefined when its effect on JSON checks cannot be read. */
function alterClause(c: Token[]): JsonEdit[] | undefined {
  let i = 0;
  const word = (...w: string[]): boolean => {
    if (!isWord(c[i], ...w)) return false;
    i++;
    return true;
  };
  const ifExists = (): void => {
    if (isWord(c[i], 'IF') && isWord(c[i + 1], 'EXISTS')) i += 2;
    else if (isWord(c[i], 'IF') && isWord(c[i + 1], 'NOT') && isWord(c[i + 2], 'EXISTS')) i += 3;
  };
  if (c.length === 0) return [];
  if (word('ADD')) {
    if (isWord(c[i], 'CONSTRAINT', 'CHECK')) return jsonChecks(c).map((column) => ({ op: 'add', column }));
    if (isWord(c[i], 'PRIMARY', 'KEY', 'INDEX', 'UNIQUE', 'FOREIGN', 'FULLTEXT', 'SPATIAL', 'PERIOD', 'PARTITION', 'SYSTEM')) return [];
    word('COLUMN');
    ifExists();
    const list = parenthesized(c, i);
    const defs = list === undefined ? [c.slice(i)] : splitTopLevel(list.inner);
    const out: JsonEdit[] = [];
    for (const def of defs) {
      const name = def[0];
      if (name?.t !== 'id') return undefined;
      // A new column: whatever an old one of that name was, it is gone (ADD fails if it exists).
      out.push(columnDefIsJson(def) ? { op: 'add', column: name.v } : { op: 'remove', column: name.v });
    }
    return out;
  }
  if (word('DROP')) {
    // Which check a constraint name stands for is not in the statement.
    if (isWord(c[i], 'CONSTRAINT', 'CHECK')) return undefined;
    if (isWord(c[i], 'PRIMARY', 'KEY', 'INDEX', 'FOREIGN', 'PARTITION', 'PERIOD', 'SYSTEM')) return [];
    word('COLUMN');
    ifExists();
    const name = c[i];
    return name?.t === 'id' ? [{ op: 'remove', column: name.v }] : undefined;
  }
  if (word('MODIFY')) {
    word('COLUMN');
    ifExists();
    const def = c.slice(i);
    const name = def[0];
    if (name?.t !== 'id') return undefined;
    return [columnDefIsJson(def) ? { op: 'add', column: name.v } : { op: 'redefine', column: name.v, to: name.v }];
  }
  if (word('CHANGE')) {
    word('COLUMN');
    ifExists();
    const old = c[i];
    const def = c.slice(i + 1);
    const now = def[0];
    if (old?.t !== 'id' || now?.t !== 'id') return undefined;
    return columnDefIsJson(def) ? [{ op: 'remove', column: old.v }, { op: 'add', column: now.v }] : [{ op: 'redefine', column: old.v, to: now.v }];
  }
  if (word('RENAME')) {
    if (word('COLUMN')) {
      const from = c[i];
      const to = c[i + 2];
      return from?.t === 'id' && isWord(c[i + 1], 'TO') && to?.t === 'id' ? [{ op: 'rename', from: from.v, to: to.v }] : undefined;
    }
    if (word('INDEX', 'KEY')) return [];
    // RENAME TO among other clauses moves the table: the caller cannot follow that here.
    return undefined;
  }
  // Clauses that touch neither columns nor checks.
  if (isWord(c[0], 'ENGINE', 'COMMENT', 'AUTO_INCREMENT', 'ROW_FORMAT', 'KEY_BLOCK_SIZE', 'ALGORITHM', 'LOCK', 'FORCE', 'ORDER',
    'ALTER', 'ENABLE', 'DISABLE', 'STATS_PERSISTENT', 'STATS_AUTO_RECALC', 'STATS_SAMPLE_PAGES', 'PACK_KEYS', 'CHECKSUM', 'PAGE_CHECKSUM',
    'DELAY_KEY_WRITE', 'MAX_ROWS', 'MIN_ROWS', 'TRANSACTIONAL', 'PAGE_COMPRESSED', 'PAGE_COMPRESSION_LEVEL', 'ENCRYPTED', 'ENCRYPTION_KEY_ID',
    'DEFAULT', 'CHARACTER', 'CHARSET', 'COLLATE', 'ANALYZE', 'OPTIMIZE', 'REBUILD', 'REPAIR', 'TRUNCATE', 'COALESCE', 'REORGANIZE', 'EXCHANGE', 'REMOVE', 'DISCARD', 'IMPORT')) {
    // ALTER COLUMN … SET/DROP DEFAULT changes a default, not a check.
    return [];
  }
  return undefined;
}
