import type { Connection } from 'mysql2/promise';
import { commitBatch, type CommitContext } from '../mongo/commit.js';
import { keyIdentity } from '../mongo/key-identity.js';
import { mirrorNamespace } from '../mongo/layout.js';
import { applyMirrors, type MirrorOp } from '../mongo/mirrors.js';
import { positionKey } from '../mongo/position.js';
import { openSnapshotView } from '../mysql/snapshot-view.js';
import { readKeys } from '../mysql/table-read.js';
import { snapshotSeq } from '../pipeline/sequence.js';
import type { Batch, DecodedChange, RawRow, RawValue, TableSchema } from '../pipeline/types.js';

/** The streaming commit path's context (the committer's, as the initial snapshot uses it). */
export interface RepairDeps {
  commit: CommitContext;
  /**
   * Asked right before a table is repaired: a message when it must not be written now (an
   * unfinished online copy of it, whose writes are not serialized with the repair's).
   */
  refuse?: (t: { db: string; table: string }) => Promise<string | undefined>;
}

export interface RepairCounts {
  /** Rows read again from MySQL and written as snapshot reads (`op: "r"`). */
  written: number;
  /** Mirror documents deleted: no row has their key. */
  deleted: number;
  /** Writes the position guard refused: a newer streamed change was already there (it wins). */
  skippedNewer: number;
  /** Writes MongoDB refused (dead letters). */
  failed: number;
}

export interface RepairWork {
  conn: Connection;
  mariadb: boolean;
  schema: TableSchema;
  epoch: number;
  /** Keys to read again and write (missing or different documents). */
  rewrite: readonly { sourceKey: RawValue[]; id: unknown }[];
  /** `_id`s of documents no row has. */
  remove: readonly unknown[];
  /** `_sdl.pos` of the view that found no row for `remove`: only documents at or before it go. */
  removeUpTo: string;
  decode: (rows: readonly RawRow[]) => Promise<DecodedChange[]>;
}

/**
 * Re-snapshots exactly the differing keys: reads them under a new consistent view at P and
 * writes them as the initial snapshot does (same decoder, same commit path, `_sdl.pos` = P's
 * snapshot seq, an `op: "r"` event per row), so a repaired document is the one streaming would
 * have written, and the mirror's position guard keeps a change streamed after P from being
 * overwritten (and lets it overwrite the repair). A key with no row at P, and every extra
 * document, is deleted with the same guard: only when what is stored is not newer than the view
 * that saw no row. Deletions write no event: the event log records source changes and reads, and
 * a repair's deletion is neither.
 */
export async function repairTable(deps: RepairDeps, work: RepairWork): Promise<RepairCounts> {
  const out: RepairCounts = { written: 0, deleted: 0, skippedNewer: 0, failed: 0 };
  const { schema } = work;
  const view = { ...(await openSnapshotView(work.conn, work.mariadb)), ...(work.epoch > 0 ? { epoch: work.epoch } : {}) };
  let rows: RawRow[];
  try {
    rows = await readKeys(work.conn, schema, work.rewrite.map((r) => r.sourceKey));
  } finally {
    await work.conn.query('COMMIT');
  }
  const seq = snapshotSeq(view);
  const ts = Date.now();
  const decoded = await work.decode(rows);
  const base = `repair@${positionKey(view)}/${schema.db}.${schema.table}/`;
  const reads: DecodedChange[] = decoded.map((c) => ({ ...c, op: 'r', seq, gtid: view.gtid, ts, id: base + keyIdentity(c.key) }));
  for (let i = 0; i < reads.length; i += 500) {
    const part = reads.slice(i, i + 500);
    const batch: Batch = { id: part[0]?.id ?? `${base}empty`, end: undefined, lastTs: ts, changes: part, ddl: [], rows: part.length, bytes: 0 };
    const r = await commitBatch({ ...deps.commit, stagingEnabled: false }, batch);
    out.written += r.mirrorsUpserted + r.mirrorsReplaced;
    out.skippedNewer += r.skippedOlder;
    out.failed += r.deadLetters;
  }
  const present = new Set(reads.map((c) => keyIdentity(c.key)));
  const gone = work.rewrite.filter((r) => !present.has(keyIdentity(r.id))).map((r) => ({ id: r.id, seq }));
  const removals = [...gone, ...work.remove.map((id) => ({ id, seq: work.removeUpTo }))];
  if (removals.length > 0) {
    const ns = mirrorNamespace(schema.db, schema.table, deps.commit.databaseMap);
    const ops: MirrorOp[] = removals.map(({ id, seq: upTo }) => ({ kind: 'delete', key: id, change: { id: `${base}delete/${keyIdentity(id)}`, seq: upTo, op: 'delete', db: schema.db, table: schema.table, key: id, before: null, after: null, h: null, gtid: undefined, ts } }));
    const counts = await applyMirrors(deps.commit.client, [{ ns, ops }], { strategy: deps.commit.mirrorStrategy, ...(deps.commit.limits !== undefined ? { limits: deps.commit.limits } : {}), fence: deps.commit.fence });
    out.deleted += counts.deleted;
    out.skippedNewer += counts.skippedOlder;
    out.failed += counts.rejected.length;
  }
  return out;
}
