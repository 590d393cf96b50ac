import type { RawRow, RowChange, TableSchema } from '../pipeline/types.js';
import { entry, hashEntries, type HashEntry } from './hash.js';
import { keyPart, type KeyPart } from './key.js';
import { fieldName } from '../mongo/names.js';
import { mapValue } from './map-value.js';
import { DecodeError } from './mapped.js';
import type { DecodeCapabilities, DecodeResult, DecodeTask, ImageIndex, WireChange, WireDoc, WireKey, Wrap } from './wire.js';

interface MappedImage {
  doc: WireDoc;
  raw: Record<string, string> | undefined;
  key: WireKey | null;
  h: string | null;
}

function mapImage(
  schema: TableSchema,
  row: RawRow,
  caps: DecodeCapabilities,
  image: ImageIndex,
  wraps: Wrap[],
  withHash: boolean,
): MappedImage {
  const doc: WireDoc = {};
  const entries: HashEntry[] = [];
  const keyParts = new Map<string, KeyPart>();
  let raw: Record<string, string> | undefined;
  for (const col of schema.columns) {
    // Absent (not null) only with a non-FULL row image; such columns are simply not written.
    if (!Object.hasOwn(row, col.name)) continue;
    const m = mapValue(col, row[col.name], caps);
    // Columns MongoDB refuses as field names (`a.b`, `$x`) or sdl's own (`_id`, `_sdl`) are mapped.
    const field = fieldName(col.name);
    doc[field] = m.value;
    if (m.wrap !== undefined) wraps.push([image, field, m.wrap]);
    if (m.raw !== undefined) (raw ??= {})[field] = m.raw;
    if (withHash) entries.push(entry(col.name, m));
    if (schema.key.includes(col.name)) keyParts.set(col.name, keyPart(col, row[col.name], m, caps));
  }
  const parts = schema.key.map((k) => keyParts.get(k) ?? { value: null, wrap: null });
  const key = parts.length === 0 ? null : { values: parts.map((p) => p.value), wraps: parts.map((p) => p.wrap) };
  return { doc, raw, key, h: withHash ? hashEntries(entries) : null };
}

function decodeChange(
  change: RowChange,
  schema: TableSchema,
  caps: DecodeCapabilities,
  gtid: string | undefined,
  ts: number,
): WireChange {
  const wraps: Wrap[] = [];
  const needsBefore = change.op !== 'insert';
  const needsAfter = change.op !== 'delete';
  if ((needsBefore && change.before === null) || (needsAfter && change.after === null)) {
    throw new DecodeError(`row change ${change.id}: ${change.op} without its ${needsAfter ? 'after' : 'before'} image`);
  }
  const before = change.before === null ? null : mapImage(schema, change.before, caps, 0, wraps, false);
  const after = change.after === null ? null : mapImage(schema, change.after, caps, 1, wraps, true);
  const exact = change.op === 'delete' ? before?.raw : after?.raw;
  return {
    id: change.id,
    seq: change.seq,
    op: change.op,
    db: schema.db,
    table: schema.table,
    keyColumns: schema.key,
    key: (change.op === 'delete' ? before?.key : after?.key) ?? null,
    ...(change.op === 'update' && before?.key != null ? { beforeKey: before.key } : {}),
    before: before?.doc ?? null,
    after: after?.doc ?? null,
    ...(exact === undefined ? {} : { raw: exact }),
    h: change.op === 'delete' ? null : (after?.h ?? null),
    gtid,
    ts,
    wraps,
  };
}

/** Maps every row change of a batch to its clone-safe decoded form (pure; runs in a pool worker or inline). */
export function decodeBatch(task: DecodeTask): DecodeResult {
  const changes: WireChange[] = [];
  for (const tx of task.transactions) {
    for (const change of tx.changes) {
      const schema = tx.schemas[change.schema];
      if (schema === undefined) throw new DecodeError(`row change ${change.id}: no schema #${change.schema} in its transaction`);
      changes.push(decodeChange(change, schema, task.caps, tx.gtid, tx.ts));
    }
  }
  return { changes };
}
