import type { Document } from 'mongodb';
import type { Batch, DecodedChange, JsonColumnsState, Op, RowlessCopies, SchemaChange, SourcePosition } from '../pipeline/types.js';
import { decodeParts, encodeParts, num, optNum, PART_BYTES } from './payload.js';
import type { DdlAction } from './ddl-parse.js';

function isDoc(v: unknown): v is Document {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A batch as payload parts: a header document, then one document per change. */
export function encodeBatch(batch: Batch, partBytes = PART_BYTES): Buffer[] {
  function* docs(): Generator<Document> {
    yield {
      id: batch.id,
      end: batch.end,
      lastTs: batch.lastTs,
      ddl: batch.ddl,
      rows: batch.rows,
      bytes: batch.bytes,
      n: batch.changes.length,
    };
    for (const c of batch.changes) yield encodeChange(c);
  }
  return encodeParts(docs(), partBytes);
}

export function decodeBatch(parts: Uint8Array[]): Batch {
  const [header, ...rest] = decodeParts(parts);
  if (header === undefined) throw new Error('staged batch has no header');
  const n = num(header['n']);
  if (rest.length !== n) throw new Error(`staged batch ${String(header['id'])} holds ${rest.length} of ${n} changes`);
  return {
    id: String(header['id']),
    end: decodePosition(header['end']),
    lastTs: num(header['lastTs']),
    // The reader's reading of each statement goes along: it knew the server's name rules and the
    // include list, and recovery must request the same online copies the first attempt did.
    ddl: (header['ddl'] as Document[]).map((d): SchemaChange => ({ db: String(d['db']), statement: String(d['statement']), ...(isDoc(d['action']) ? { action: d['action'] as unknown as DdlAction } : {}),
      ...(isDoc(d['copies']) ? { copies: d['copies'] as unknown as RowlessCopies } : {}) })),
    rows: num(header['rows']),
    bytes: num(header['bytes']),
    changes: rest.map(decodeChange),
  };
}

/** One change as a document; `oldKey`/`raw`/`gtid` are left out when undefined. */
export function encodeChange(c: DecodedChange): Document {
  return { ...c };
}

export function decodeChange(d: Document): DecodedChange {
  const change: DecodedChange = {
    id: String(d['id']),
    seq: String(d['seq']),
    op: d['op'] as Op,
    db: String(d['db']),
    table: String(d['table']),
    key: d['key'],
    before: (d['before'] as Document | null) ?? null,
    after: (d['after'] as Document | null) ?? null,
    h: typeof d['h'] === 'string' ? d['h'] : null,
    gtid: typeof d['gtid'] === 'string' ? d['gtid'] : undefined,
    ts: num(d['ts']),
  };
  if ('oldKey' in d) change.oldKey = d['oldKey'];
  if (d['raw'] !== undefined && d['raw'] !== null) change.raw = d['raw'] as Record<string, string>;
  return change;
}

function decodePosition(v: unknown): SourcePosition | undefined {
  if (v === undefined || v === null) return undefined;
  const d = v as Document;
  const pos: SourcePosition = { file: String(d['file']), pos: optNum(d['pos']) ?? 0 };
  if (typeof d['gtid'] === 'string') pos.gtid = d['gtid'];
  if (typeof d['epoch'] === 'number') pos.epoch = d['epoch'];
  if (typeof d['source'] === 'string') pos.source = d['source'];
  if (d['json'] !== undefined && d['json'] !== null) pos.json = d['json'] as JsonColumnsState;
  return pos;
}
