/**
 * What a Query event inside a binlog transaction means for its rows. In ROW format the rows
 * travel in row events; a query inside a group is either a marker (savepoint, XA, end of the
 * group) or a statement-format DML whose rows sdl cannot see.
 */
export type TxnStatement =
  | { kind: 'commit' }
  | { kind: 'rollback' }
  | { kind: 'savepoint'; name: string }
  | { kind: 'rollback-to'; name: string }
  | { kind: 'release'; name: string }
  | { kind: 'xa-marker' }
  | { kind: 'xa-commit'; xid: string }
  | { kind: 'xa-rollback'; xid: string }
  /** Statement-format DML; targets undefined when the statement's target tables cannot be read. */
  | { kind: 'dml'; targets: TableRef[] | undefined }
  | { kind: 'other' };

export interface TableRef {
  db: string;
  table: string;
}

const COMMENTS = /^\s*(?:\/\*.*?\*\/\s*|#[^\n]*\n\s*|--\s[^\n]*\n\s*)*/s;
const IDENT = String.raw`(?:\x60((?:[^\x60]|\x60\x60)+)\x60|([A-Za-z0-9_$]+))`;
const NAME = String.raw`${IDENT}(?:\s*\.\s*${IDENT})?`;
const SAVEPOINT_NAME = String.raw`(?:SAVEPOINT\s+)?${IDENT}\s*;?\s*$`;

const INSERT = new RegExp(String.raw`^(?:INSERT|REPLACE)\s+(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE)\s+)*(?:INTO\s+)?${NAME}`, 'i');
// Single-table UPDATE with an optional alias; a table list or JOIN falls through as undetermined.
const UPDATE = new RegExp(String.raw`^UPDATE\s+(?:(?:LOW_PRIORITY|IGNORE)\s+)*${NAME}(?:\s+(?:AS\s+)?(?!SET\b)[A-Za-z0-9_$]+)?\s+SET\b`, 'i');
const DELETE = new RegExp(String.raw`^DELETE\s+(?:(?:LOW_PRIORITY|QUICK|IGNORE)\s+)*FROM\s+${NAME}(?:\s+(?:AS\s+)?(?!WHERE\b|ORDER\b|LIMIT\b|RETURNING\b|USING\b|PARTITION\b)[A-Za-z0-9_$]+)?\s*(?:$|;|WHERE\b|ORDER\b|LIMIT\b|RETURNING\b|PARTITION\b)`, 'i');
const LOAD = new RegExp(String.raw`^LOAD\s+(?:DATA|XML)\b.*?\bINTO\s+TABLE\s+${NAME}`, 'is');
/**
 * Statements that change rows. SELECT and DO reach the binlog only when a stored function they
 * call wrote rows, so their targets are never known; WITH precedes an UPDATE/DELETE.
 */
const DML_START = /^(?:INSERT|REPLACE|UPDATE|DELETE|LOAD|WITH|SELECT|DO|CALL)\b/i;

/** Classifies a Query event's text; `db` is the event's default database. */
export function classifyStatement(statement: string, db: string): TxnStatement {
  const s = statement.replace(COMMENTS, '').trim();
  const word = /^[A-Za-z]+/.exec(s)?.[0].toUpperCase() ?? '';
  if (word === 'COMMIT') return { kind: 'commit' };
  if (word === 'ROLLBACK') {
    const to = new RegExp(String.raw`^ROLLBACK\s+(?:WORK\s+)?TO\s+${SAVEPOINT_NAME}`, 'i').exec(s);
    if (to !== null) return { kind: 'rollback-to', name: ident(to[1], to[2]) };
    return { kind: 'rollback' };
  }
  if (word === 'SAVEPOINT') {
    const m = new RegExp(String.raw`^${SAVEPOINT_NAME}`, 'i').exec(s);
    return m === null ? { kind: 'other' } : { kind: 'savepoint', name: ident(m[1], m[2]) };
  }
  if (word === 'RELEASE') {
    const m = new RegExp(String.raw`^RELEASE\s+${SAVEPOINT_NAME}`, 'i').exec(s);
    return m === null ? { kind: 'other' } : { kind: 'release', name: ident(m[1], m[2]) };
  }
  if (word === 'XA') {
    const m = /^XA\s+(COMMIT|ROLLBACK)\s+(.+?)\s*(ONE\s+PHASE)?\s*;?\s*$/is.exec(s);
    if (m?.[3] !== undefined) return { kind: 'xa-marker' };
    if (m?.[1] !== undefined && m[2] !== undefined) {
      const xid = normalizeXid(m[2]);
      return m[1].toUpperCase() === 'COMMIT' ? { kind: 'xa-commit', xid } : { kind: 'xa-rollback', xid };
    }
    // XA START / END (and MySQL's XA PREPARE as a query) mark the branch; its rows are row events.
    return { kind: 'xa-marker' };
  }
  if (DML_START.test(s)) return { kind: 'dml', targets: dmlTargets(s, db) };
  return { kind: 'other' };
}

function dmlTargets(s: string, db: string): TableRef[] | undefined {
  for (const re of [INSERT, UPDATE, DELETE, LOAD]) {
    const m = re.exec(s);
    if (m === null) continue;
    const first = ident(m[1], m[2]);
    return m[3] !== undefined || m[4] !== undefined ? [{ db: first, table: ident(m[3], m[4]) }] : [{ db, table: first }];
  }
  return undefined;
}

function ident(quoted: string | undefined, bare: string | undefined): string {
  return quoted !== undefined ? quoted.replace(/``/g, '`') : (bare ?? '');
}

/**
 * One spelling per XA id, whether it comes from an XA_PREPARE event or from the text of a later
 * `XA COMMIT`: MariaDB and MySQL log both as `X'hex',X'hex',formatId`.
 */
export function normalizeXid(text: string): string {
  return text.replace(/\s+/g, '').toLowerCase();
}

/** The XA id of an XA_PREPARE event in the spelling `normalizeXid` gives the query text. */
export function xidOf(formatId: number, gtrid: Uint8Array, bqual: Uint8Array): string {
  return normalizeXid(`X'${Buffer.from(gtrid).toString('hex')}',X'${Buffer.from(bqual).toString('hex')}',${formatId}`);
}
