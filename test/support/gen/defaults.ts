import type { ColumnType } from './columns.js';

/** A DEFAULT clause for a literal, or for an expression (POINT(…)), which must be parenthesized. */
const parenthesized = (lit: string): string => (/^[A-Za-z_]+\(/.test(lit) ? `(${lit})` : lit);

/** The characters a quoted literal stores, or the bytes of a hex one; undefined for an expression. */
function literalText(lit: string): string | undefined {
  if (lit.startsWith("'")) return lit.slice(1, -1).replace(/\\(.)/gu, '$1');
  const hex = /^X'([0-9A-F]*)'$/i.exec(lit)?.[1];
  return hex === undefined ? undefined : String.fromCharCode(...(hex.match(/../g) ?? []).map((h) => parseInt(h, 16)));
}

/**
 * Why MariaDB 10.11 takes a value in an INSERT (sql_mode '') but refuses it as a DEFAULT, measured
 * by test/integration/gen-defaults.test.ts; undefined when it takes it.
 */
function refusedAsDefault(type: Pick<ColumnType, 'id' | 'sql'>, value: string): string | undefined {
  if (type.id === 'enum' && value === "''") return 'the invalid ENUM value';
  // Two 9 KB defaults overflow InnoDB's undo record for an instant ADD COLUMN (error 1713).
  if (value.startsWith('REPEAT(')) return 'a 9 KB expression';
  const text = literalText(value);
  const width = /^(?:VAR)?(?:CHAR|BINARY)\((\d+)\)/.exec(type.sql)?.[1];
  if (width !== undefined && text !== undefined && [...text].length > Number(width)) return 'longer than the column (an INSERT truncates it)';
  // A TEXT, BLOB or JSON default is kept as an expression in the table's charset (latin1 here):
  // other characters are refused (1918), and with a _utf8mb4 introducer stored as `\xC3\xA9` text.
  if (/^(?:TEXT|BLOB|JSON)\b/.test(type.sql) && text !== undefined && [...text].some((ch) => (ch.codePointAt(0) ?? 0) > 0xff)) return 'not latin1, the charset of the expression';
  if (/^TIMESTAMP\b/.test(type.sql) && /-00[- ]/.test(value) && !value.startsWith("'0000-00-00")) return 'a zero month or day in a TIMESTAMP';
  return undefined;
}

/**
 * What may follow `ADD COLUMN … NOT NULL DEFAULT` for a type (`sql`), from the values a case may
 * write (`value`, the literal an INSERT would use).
 */
export function addColumnDefaults(type: Pick<ColumnType, 'id' | 'sql'>, values: readonly string[]): { value: string; sql: string }[] {
  return values.filter((v) => refusedAsDefault(type, v) === undefined).map((value) => ({ value, sql: parenthesized(value) }));
}
