import type { Batch, DecodedChange, Op, SchemaChange, SourcePosition } from '../../src/pipeline/types.js';

/** Sortable seq as the reader makes it: zero-padded file sequence, event position, row. */
export function seqOf(n: number, row = 0): string {
  return `${String(1).padStart(6, '0')}:${String(n).padStart(12, '0')}:${String(row).padStart(5, '0')}`;
}

export interface ChangeSpec {
  op: Op;
  db?: string;
  table?: string;
  key: unknown;
  oldKey?: unknown;
  after?: Record<string, unknown> | null;
  before?: Record<string, unknown> | null;
  n: number;
  row?: number;
  raw?: Record<string, string>;
}

export function change(s: ChangeSpec): DecodedChange {
  const c: DecodedChange = {
    id: `0-1-${s.n}#${s.row ?? 0}`,
    seq: seqOf(s.n, s.row ?? 0),
    op: s.op,
    db: s.db ?? 'src',
    table: s.table ?? 't',
    key: s.key,
    before: s.before ?? null,
    after: s.op === 'delete' ? null : (s.after ?? {}),
    h: s.op === 'delete' ? null : `h${s.n}`,
    gtid: `0-1-${s.n}`,
    ts: 1_700_000_000_000 + s.n,
  };
  if (s.oldKey !== undefined) c.oldKey = s.oldKey;
  if (s.raw !== undefined) c.raw = s.raw;
  return c;
}

export function endAt(n: number, file = 'binlog.000001'): SourcePosition {
  return { file, pos: n * 100, gtid: `0-1-${n}` };
}

export function batch(changes: DecodedChange[], opts: { id?: string; end?: SourcePosition | null; ddl?: SchemaChange[] } = {}): Batch {
  const last = changes[changes.length - 1];
  const n = last !== undefined ? Number(last.gtid?.split('-')[2] ?? 0) : 0;
  return {
    id: opts.id ?? (changes[0]?.id ?? `ddl@${n}`),
    end: opts.end === null ? undefined : (opts.end ?? endAt(n)),
    lastTs: last?.ts ?? 0,
    changes,
    ddl: opts.ddl ?? [],
    rows: changes.length,
    bytes: 0,
  };
}
