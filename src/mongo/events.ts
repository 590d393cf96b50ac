import type { AnyBulkWriteOperation, ClientSession, Collection, Document } from 'mongodb';
import type { DecodedChange } from '../pipeline/types.js';
import { DUPLICATE_KEY } from './errors.js';
import { COLLECTIONS } from './layout.js';
import { bsonSize, chunk, DEFAULT_CHUNK, MAX_DOC_BYTES, runBulk, TOO_LARGE_CODE, type ChunkLimits, type Rejection } from './write-shape.js';

export interface EventCounts {
  inserted: number;
  duplicates: number;
  rejected: Rejection[];
}

/** The event-log document of one change; `_id` is the change's deterministic id. */
export function eventDoc(c: DecodedChange): Document {
  return {
    _id: c.id,
    op: c.op,
    db: c.db,
    table: c.table,
    key: c.key,
    before: c.before,
    after: c.after,
    gtid: c.gtid ?? null,
    seq: c.seq,
    ts: new Date(c.ts),
    raw: c.raw ?? null,
  };
}

export interface WriteOpts {
  session?: ClientSession | undefined;
  limits?: ChunkLimits;
  /** Called before every write command; throws when this instance may no longer write (lease). */
  fence?: (() => Promise<void>) | undefined;
}

/**
 * Appends the changes to `row_changes`, unordered so one bad document does not hold back
 * the rest. A duplicate `_id` is a replay of something already logged: counted, not an error.
 */
export async function insertEvents(coll: Collection<Document>, changes: readonly DecodedChange[], opts: WriteOpts = {}): Promise<EventCounts> {
  const out: EventCounts = { inserted: 0, duplicates: 0, rejected: [] };
  const target = { kind: 'event' as const, db: coll.dbName, collection: COLLECTIONS.rowChanges };
  const sized: { change: DecodedChange; doc: Document; size: number }[] = [];
  for (const change of changes) {
    const doc = eventDoc(change);
    const size = bsonSize(doc);
    if (size > MAX_DOC_BYTES) {
      out.rejected.push({ change, target, reason: { code: TOO_LARGE_CODE, message: `event document is ${size} bytes, over the ${MAX_DOC_BYTES} limit` } });
    } else {
      sized.push({ change, doc, size });
    }
  }
  for (const run of chunk(sized, (s) => s.size, opts.limits ?? DEFAULT_CHUNK)) {
    const ops: AnyBulkWriteOperation<Document>[] = run.map((s) => ({ insertOne: { document: s.doc } }));
    await opts.fence?.();
    const { counts, failures } = await runBulk(() => coll.bulkWrite(ops, { ordered: false, session: opts.session }));
    out.inserted += counts.inserted;
    for (const f of failures) {
      const item = run[f.index];
      if (item === undefined) throw new Error(`server reported a write error for operation ${f.index} of ${run.length}`);
      if (f.code === DUPLICATE_KEY) out.duplicates++;
      else out.rejected.push({ change: item.change, target, reason: { code: f.code, message: f.message } });
    }
  }
  return out;
}
