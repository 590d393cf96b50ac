/**
 * Recognises the statements that change mirrors without row events: TRUNCATE, DROP TABLE and
 * table renames. Anything else is only recorded in schema_history. A tokenizer (backticked
 * identifiers with `` escapes, bare words, '.' and ',') keeps the patterns small.
 */

export interface TableRef {
  db: string;
  table: string;
}

export type DdlAction =
  | { kind: 'truncate'; table: TableRef }
  | { kind: 'drop'; tables: TableRef[] }
  | { kind: 'rename'; pairs: { from: TableRef; to: TableRef }[] }
  | { kind: 'other' };

type Token = { t: 'id'; v: string; quoted: boolean } | { t: 'p'; v: string };

const TOKEN = /\s*(?:`((?:[^`]|``)*)`|([A-Za-z0-9_$\u0080-\uffff]+)|([.,;()=]))/y;

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
    else if (m[3] !== undefined) out.push({ t: 'p', v: m[3] });
  }
  while (out.length > 0 && out[out.length - 1]?.v === ';') out.pop();
  return out;
}

class Cursor {
  i = 0;
  constructor(private readonly toks: Token[], private readonly defaultDb: string) {}
  get done(): boolean {
    return this.i >= this.toks.length;
  }
  /** Consumes a keyword sequence (case-insensitive, unquoted) if it is next. */
  kw(...words: string[]): boolean {
    for (let k = 0; k < words.length; k++) {
      const tok = this.toks[this.i + k];
      if (tok === undefined || tok.t !== 'id' || tok.quoted || tok.v.toUpperCase() !== words[k]) return false;
    }
    this.i += words.length;
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
  table(): TableRef | undefined {
    const first = this.ident();
    if (first === undefined) return undefined;
    if (!this.punct('.')) return { db: this.defaultDb, table: first };
    const second = this.ident();
    return second === undefined ? undefined : { db: first, table: second };
  }
  /** MariaDB's `WAIT n` / `NOWAIT` lock options. */
  waitOption(): void {
    if (this.kw('NOWAIT')) return;
    if (this.kw('WAIT')) this.ident();
  }
}

export function parseDdl(statement: string, defaultDb: string): DdlAction {
  const toks = tokenize(statement);
  if (toks === undefined) return { kind: 'other' };
  const c = new Cursor(toks, defaultDb);
  if (c.kw('TRUNCATE')) {
    c.kw('TABLE');
    const table = c.table();
    c.waitOption();
    return table !== undefined && c.done ? { kind: 'truncate', table } : { kind: 'other' };
  }
  if (c.kw('DROP')) {
    // A temporary table can shadow a real one of the same name: its drop must not touch the mirror.
    if (c.kw('TEMPORARY')) return { kind: 'other' };
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
  if (c.kw('ALTER')) {
    c.kw('ONLINE');
    c.kw('IGNORE');
    if (!c.kw('TABLE')) return { kind: 'other' };
    c.kw('IF', 'EXISTS');
    const from = c.table();
    c.waitOption();
    if (from === undefined || !c.kw('RENAME')) return { kind: 'other' };
    if (!c.kw('TO')) c.kw('AS');
    const to = c.table();
    return to !== undefined && c.done ? { kind: 'rename', pairs: [{ from, to }] } : { kind: 'other' };
  }
  return { kind: 'other' };
}
