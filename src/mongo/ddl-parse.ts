/**
 * Reads what a DDL statement does to mirrors that have no row events to follow: TRUNCATE,
 * DROP TABLE / DATABASE, renames, CREATE OR REPLACE, and the ALTER clauses that change keys or
 * stored values. A tokenizer (backticked identifiers with `` escapes, bare words, string
 * literals, punctuation) keeps the patterns small. Names are resolved against the statement's
 * own default database, never the include list, so the caller judges the real targets.
 */

export interface TableRef {
  db: string;
  table: string;
}

/** What an ALTER TABLE does beyond a rename, as far as mirrors care. */
export interface AlterEffects {
  /** Columns dropped: their fields can be removed from every mirror document exactly. */
  dropColumns: string[];
  /** Columns added as NULL in every existing row (nullable, no default, not generated): set exactly. */
  addNullColumns: string[];
  /** Columns renamed (RENAME COLUMN, or CHANGE with a new name): fields can be renamed exactly. */
  renameColumns: { from: string; to: string }[];
  /** Columns whose definition changed (MODIFY, CHANGE): stored values may have been converted. */
  modifyColumns: string[];
  /** Adds, drops or redefines the PRIMARY KEY: the mirror's `_id`s no longer follow the table. */
  primaryKey: boolean;
  /** Why rows the binlog does not carry may now differ from their mirror documents (empty when none). */
  stale: string[];
  /** Other tables whose rows the statement changes without row events (EXCHANGE / CONVERT PARTITION … TABLE). */
  partners?: TableRef[];
}

export type DdlAction =
  | { kind: 'truncate'; table: TableRef }
  | { kind: 'drop'; tables: TableRef[] }
  /**
   * `leaving`: names the statement ends with that the include list leaves out (set by the
   * reader, which knows the list): their mirrors, renamed there, are dropped, since sdl stops
   * following those tables.
   */
  | { kind: 'rename'; pairs: { from: TableRef; to: TableRef }[]; leaving?: TableRef[] }
  /** CREATE OR REPLACE TABLE: the old table and its rows are gone (rows of a `… SELECT` follow as row events). */
  | { kind: 'replace'; table: TableRef }
  | { kind: 'create'; table: TableRef }
  | { kind: 'drop-database'; db: string }
  | ({ kind: 'alter'; table: TableRef } & AlterEffects)
  /** Anything else; `tables` names the tables it mentions when the statement says (CREATE INDEX … ON t). */
  | { kind: 'other'; tables?: TableRef[] };

export interface ParseOptions {
  /** The server runs with lower_case_table_names=1: it stores and logs table names in lower case. */
  lowerCaseNames?: boolean;
}

type Token = { t: 'id'; v: string; quoted: boolean } | { t: 'p'; v: string } | { t: 's'; v: string };

const TOKEN = /\s*(?:`((?:[^`]|``)*)`|([A-Za-z0-9_$\u0080-\uffff]+)|('(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")|([^\sA-Za-z0-9_$`'"]))/y;

function stripComments(sql: string): string {
  // Executable comments (`/*!50001 … */`) carry real SQL; plain ones and line comments do not.
  return sql
    .replace(/\/\*!\d*\s?([\s\S]*?)\*\//g, ' $1 ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/(?:--\s|#)[^\n]*/g, ' ');
}

export function tokenize(sql: string): Token[] | undefined {
  const src = stripComments(sql).trim();
  const out: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < src.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(src);
    if (m === null) {
      if (/^\s*$/.test(src.slice(at))) break;
      return undefined;
    }
    if (m[1] !== undefined) out.push({ t: 'id', v: m[1].replace(/``/g, '`'), quoted: true });
    else if (m[2] !== undefined) out.push({ t: 'id', v: m[2], quoted: false });
    else if (m[3] !== undefined) out.push({ t: 's', v: m[3] });
    else if (m[4] !== undefined) out.push({ t: 'p', v: m[4] });
  }
  while (out.length > 0 && out[out.length - 1]?.v === ';') out.pop();
  return out;
}

class Cursor {
  i = 0;
  constructor(
    private readonly toks: Token[],
    private readonly defaultDb: string,
    private readonly lower: boolean,
  ) {}
  get done(): boolean {
    return this.i >= this.toks.length;
  }
  /** Consumes a keyword sequence (case-insensitive, unquoted) if it is next. */
  kw(...words: string[]): boolean {
    if (!this.peekKw(...words)) return false;
    this.i += words.length;
    return true;
  }
  peekKw(...words: string[]): boolean {
    for (let k = 0; k < words.length; k++) {
      const tok = this.toks[this.i + k];
      if (tok === undefined || tok.t !== 'id' || tok.quoted || tok.v.toUpperCase() !== words[k]) return false;
    }
    return true;
  }
  punct(p: string): boolean {
    const tok = this.toks[this.i];
    if (tok?.t === 'p' && tok.v === p) {
      this.i++;
      return true;
    }
    return false;
  }
  ident(): string | undefined {
    const tok = this.toks[this.i];
    if (tok?.t !== 'id') return undefined;
    this.i++;
    return tok.v;
  }
  private name(v: string): string {
    return this.lower ? v.toLowerCase() : v;
  }
  database(): string | undefined {
    const v = this.ident();
    return v === undefined ? undefined : this.name(v);
  }
  table(): TableRef | undefined {
    const first = this.ident();
    if (first === undefined) return undefined;
    if (!this.punct('.')) return { db: this.name(this.defaultDb), table: this.name(first) };
    const second = this.ident();
    return second === undefined ? undefined : { db: this.name(first), table: this.name(second) };
  }
  /** MariaDB's `WAIT n` / `NOWAIT` lock options. */
  waitOption(): void {
    if (this.kw('NOWAIT')) return;
    if (this.kw('WAIT')) this.ident();
  }
  /** The remaining tokens split at top-level commas (one ALTER specification each). */
  clauses(): Cursor[] {
    const out: Cursor[] = [];
    let depth = 0;
    let start = this.i;
    for (; this.i <= this.toks.length; this.i++) {
      const tok = this.toks[this.i];
      if (tok === undefined || (depth === 0 && tok.t === 'p' && tok.v === ',')) {
        out.push(new Cursor(this.toks.slice(start, this.i), this.defaultDb, this.lower));
        start = this.i + 1;
      } else if (tok.t === 'p' && tok.v === '(') depth++;
      else if (tok.t === 'p' && tok.v === ')') depth--;
    }
    return out;
  }
  /** True when any unquoted word of the rest is one of `words`. */
  mentions(...words: string[]): boolean {
    return this.toks.slice(this.i).some((t) => t.t === 'id' && !t.quoted && words.includes(t.v.toUpperCase()));
  }
}

export function parseDdl(statement: string, defaultDb: string, opts: ParseOptions = {}): DdlAction {
  const toks = tokenize(statement);
  if (toks === undefined) return { kind: 'other' };
  const c = new Cursor(toks, defaultDb, opts.lowerCaseNames === true);
  if (c.kw('TRUNCATE')) {
    c.kw('TABLE');
    const table = c.table();
    c.waitOption();
    return table !== undefined && c.done ? { kind: 'truncate', table } : { kind: 'other' };
  }
  if (c.kw('DROP')) return parseDrop(c);
  if (c.kw('RENAME')) {
    if (!c.kw('TABLE') && !c.kw('TABLES')) return { kind: 'other' };
    c.kw('IF', 'EXISTS');
    const pairs: { from: TableRef; to: TableRef }[] = [];
    do {
      const from = c.table();
      c.waitOption();
      if (from === undefined || !c.kw('TO')) return { kind: 'other' };
      const to = c.table();
      if (to === undefined) return { kind: 'other' };
      pairs.push({ from, to });
    } while (c.punct(','));
    return c.done ? { kind: 'rename', pairs } : { kind: 'other' };
  }
  if (c.kw('ALTER')) return parseAlter(c);
  if (c.kw('CREATE')) return parseCreate(c);
  return { kind: 'other' };
}

function parseDrop(c: Cursor): DdlAction {
  // A temporary table can shadow a real one of the same name: its drop must not touch the mirror.
  if (c.kw('TEMPORARY')) return { kind: 'other' };
  if (c.kw('DATABASE') || c.kw('SCHEMA')) {
    c.kw('IF', 'EXISTS');
    const db = c.database();
    return db !== undefined && c.done ? { kind: 'drop-database', db } : { kind: 'other' };
  }
  if (c.kw('INDEX')) {
    c.ident();
    c.kw('IF', 'EXISTS');
    if (!c.kw('ON')) return { kind: 'other' };
    const t = c.table();
    return t === undefined ? { kind: 'other' } : { kind: 'other', tables: [t] };
  }
  if (!c.kw('TABLE') && !c.kw('TABLES')) return { kind: 'other' };
  c.kw('IF', 'EXISTS');
  const tables: TableRef[] = [];
  do {
    const t = c.table();
    if (t === undefined) return { kind: 'other' };
    tables.push(t);
  } while (c.punct(','));
  c.waitOption();
  if (!c.kw('RESTRICT')) c.kw('CASCADE');
  return c.done ? { kind: 'drop', tables } : { kind: 'other' };
}

function parseCreate(c: Cursor): DdlAction {
  const replace = c.kw('OR', 'REPLACE');
  if (c.kw('TEMPORARY')) return { kind: 'other' };
  if (c.kw('UNIQUE') || c.kw('FULLTEXT') || c.kw('SPATIAL') || c.peekKw('INDEX')) {
    // CREATE [UNIQUE] INDEX i ON t: a unique index can become the key of a table without a primary key.
    if (!c.kw('INDEX')) return { kind: 'other' };
    c.kw('IF', 'NOT', 'EXISTS');
    c.ident();
    if (!c.kw('ON')) return { kind: 'other' };
    const t = c.table();
    return t === undefined ? { kind: 'other' } : { kind: 'other', tables: [t] };
  }
  if (!c.kw('TABLE')) return { kind: 'other' };
  c.kw('IF', 'NOT', 'EXISTS');
  const table = c.table();
  if (table === undefined) return { kind: 'other' };
  return { kind: replace ? 'replace' : 'create', table };
}

function parseAlter(c: Cursor): DdlAction {
  c.kw('ONLINE');
  c.kw('IGNORE');
  if (!c.kw('TABLE')) return { kind: 'other' };
  c.kw('IF', 'EXISTS');
  const from = c.table();
  c.waitOption();
  if (from === undefined) return { kind: 'other' };
  if (c.peekKw('RENAME') && !c.peekKw('RENAME', 'COLUMN') && !c.peekKw('RENAME', 'INDEX') && !c.peekKw('RENAME', 'KEY')) {
    c.kw('RENAME');
    if (!c.kw('TO')) c.kw('AS');
    const to = c.table();
    return to !== undefined && c.done ? { kind: 'rename', pairs: [{ from, to }] } : { kind: 'other', tables: [from] };
  }
  const fx: AlterEffects = { dropColumns: [], addNullColumns: [], renameColumns: [], modifyColumns: [], primaryKey: false, stale: [] };
  for (const clause of c.clauses()) alterClause(clause, fx);
  return { kind: 'alter', table: from, ...fx };
}

function alterClause(c: Cursor, fx: AlterEffects): void {
  if (c.mentions('PRIMARY')) fx.primaryKey = true;
  if (c.kw('ADD')) {
    if (c.kw('COLUMN') || !(c.peekKw('INDEX') || c.peekKw('KEY') || c.peekKw('UNIQUE') || c.peekKw('CONSTRAINT') || c.peekKw('PRIMARY')
      || c.peekKw('FOREIGN') || c.peekKw('FULLTEXT') || c.peekKw('SPATIAL') || c.peekKw('CHECK') || c.peekKw('PARTITION') || c.peekKw('PERIOD') || c.peekKw('SYSTEM'))) {
      c.kw('IF', 'NOT', 'EXISTS');
      const col = c.punct('(') ? undefined : c.ident();
      // Existing rows take the new column's default or generated value, which no row event
      // carries; only a plain nullable column is NULL in all of them.
      if (col !== undefined && !c.mentions('DEFAULT', 'NOT', 'AS', 'GENERATED', 'AUTO_INCREMENT', 'SERIAL', 'TIMESTAMP')) fx.addNullColumns.push(col);
      else fx.stale.push(`ADD COLUMN ${col ?? '(…)'}`);
    }
    return;
  }
  // Partition maintenance moves or removes rows inside the engine: the binlog has the statement only.
  if (c.kw('DROP', 'PARTITION')) {
    fx.stale.push('DROP PARTITION');
    return;
  }
  if (c.kw('TRUNCATE', 'PARTITION')) {
    fx.stale.push('TRUNCATE PARTITION');
    return;
  }
  if (c.kw('EXCHANGE', 'PARTITION')) {
    c.ident();
    fx.stale.push('EXCHANGE PARTITION');
    if (c.kw('WITH', 'TABLE')) partner(fx, c.table());
    return;
  }
  if (c.kw('CONVERT', 'PARTITION')) {
    c.ident();
    fx.stale.push('CONVERT PARTITION');
    if (c.kw('TO', 'TABLE')) partner(fx, c.table());
    return;
  }
  if (c.kw('CONVERT', 'TABLE')) {
    partner(fx, c.table());
    fx.stale.push('CONVERT TABLE TO PARTITION');
    return;
  }
  if (c.kw('IMPORT')) {
    // IMPORT [PARTITION …] TABLESPACE: the rows of the imported file appear.
    fx.stale.push('IMPORT TABLESPACE');
    return;
  }
  if (c.kw('DROP')) {
    if (c.kw('COLUMN') || !(c.peekKw('INDEX') || c.peekKw('KEY') || c.peekKw('PRIMARY') || c.peekKw('FOREIGN') || c.peekKw('CONSTRAINT')
      || c.peekKw('CHECK') || c.peekKw('PARTITION') || c.peekKw('PERIOD') || c.peekKw('SYSTEM'))) {
      c.kw('IF', 'EXISTS');
      const col = c.ident();
      if (col !== undefined) fx.dropColumns.push(col);
    }
    return;
  }
  if (c.kw('MODIFY')) {
    c.kw('COLUMN');
    c.kw('IF', 'EXISTS');
    const col = c.ident();
    if (col !== undefined) {
      fx.modifyColumns.push(col);
      fx.stale.push(`MODIFY ${col}`);
    }
    return;
  }
  if (c.kw('CHANGE')) {
    c.kw('COLUMN');
    c.kw('IF', 'EXISTS');
    const old = c.ident();
    const now = c.ident();
    if (old === undefined || now === undefined) return;
    fx.modifyColumns.push(old);
    if (old !== now) fx.renameColumns.push({ from: old, to: now });
    fx.stale.push(`CHANGE ${old}`);
    return;
  }
  if (c.kw('RENAME', 'COLUMN')) {
    const old = c.ident();
    if (old !== undefined && c.kw('TO')) {
      const now = c.ident();
      if (now !== undefined) fx.renameColumns.push({ from: old, to: now });
    }
    return;
  }
  if (c.kw('CONVERT', 'TO') || c.kw('FORCE')) {
    // CONVERT rewrites every text column in the new character set; FORCE may rebuild values.
    if (c.mentions('CHARACTER', 'CHARSET')) fx.stale.push('CONVERT TO CHARACTER SET');
  }
}

function partner(fx: AlterEffects, t: TableRef | undefined): void {
  if (t !== undefined) fx.partners = [...(fx.partners ?? []), t];
}

/** The tables a statement acts on (for the include filter); empty when the statement names none we know. */
export function ddlTables(action: DdlAction): TableRef[] {
  switch (action.kind) {
    case 'alter':
      return [action.table, ...(action.partners ?? [])];
    case 'truncate': case 'replace': case 'create':
      return [action.table];
    case 'drop':
      return action.tables;
    case 'rename':
      return action.pairs.flatMap((p) => [p.from, p.to]);
    case 'drop-database':
      return [];
    case 'other':
      return action.tables ?? [];
  }
}
