import type { Db, Document, Filter, MongoClient } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import type { Decoder } from '../actors/decoder-pool.js';
import { decodeBatch } from '../decode/decode-changes.js';
import { rehydrate } from '../decode/rehydrate.js';
import type { DecodeCapabilities } from '../decode/wire.js';
import { SdlError } from '../errors.js';
import { keyIdentity } from '../mongo/key-identity.js';
import { mirrorNamespace, type DatabaseMap } from '../mongo/layout.js';
import { connectExact } from '../mysql/connection.js';
import { IncludeFilter } from '../mysql/include-filter.js';
import { currentSchema, listTables } from '../mysql/information-schema.js';
import { inOwnView, openSnapshotView } from '../mysql/snapshot-view.js';
import { assertKeysetOrder, keyOf, readChunk, readKeys, readLastKey } from '../mysql/table-read.js';
import { snapshotSeq } from '../pipeline/sequence.js';
import type { DecodedChange, RawRow, RawValue, RowChange, SourcePosition, TableSchema } from '../pipeline/types.js';
import { canonical, compareDoc, digestMatches, docDigest, docPos, expectedOf, sourceKey, type DocDigest, type Expected, type FieldDiff } from './compare.js';
import { CheckpointWatch } from './checkpoint-watch.js';
import type { OrphanMirror } from './orphan-mirrors.js';
import { repairTable, type RepairCounts, type RepairDeps } from './repair.js';

export { canonical, indexSource, type Expected, type SourceDocs } from './compare.js';

export interface TableReport {
  db: string;
  table: string;
  /** Source rows read (in the first pass's consistent view). */
  sourceRows: number;
  /** Mirror documents scanned. */
  mirrorDocs: number;
  /** How many keys of each kind, after re-checking; the lists below hold samples (`maxListed`). */
  counts: { missing: number; extra: number; different: number; unsettled: number };
  missing: string[];
  extra: string[];
  different: FieldDiff[];
  /** Keys whose mirror document kept being rewritten by newer changes through every re-check: not judged, not equal either. */
  unsettled: string[];
  /** Candidates of the first pass that were re-checked against the checkpoint (see `settle`). */
  rechecked: number;
  /** No key: mirrored only in the event log, so not compared here. */
  skipped?: string;
  /** `_id`s that more than one source row maps to (counted in `different`; no repair fixes them). */
  collisions?: number;
  /** With `repair`: what was rewritten from MySQL and what was deleted. */
  repaired?: RepairCounts;
  /** Why `--repair` left this table's differences as they are (an unfinished online copy of it). */
  repairRefused?: string;
}

export interface VerifyReport {
  ok: boolean;
  tables: TableReport[];
  /** `sdl verify` of the whole pipeline: mirrors of included tables the source does not have. */
  orphans?: OrphanMirror[];
}

export interface VerifyOptions {
  mysqlUrl: string;
  include: readonly string[];
  mongo: MongoClient;
  databaseMap: DatabaseMap;
  caps: DecodeCapabilities;
  /** Cap on listed differences per table. */
  maxListed?: number;
  /** Only these included tables (`db.table`); every one must exist and be included. */
  tables?: readonly string[];
  /**
   * The pipeline whose checkpoint says how far the mirrors have caught up. With it, a
   * difference is reported only once the checkpoint has passed the position its source row
   * was read at (see `settle`); without it, differences are judged as they stand (sdl stopped).
   */
  pipeline?: { db: Db; name: string };
  /** Re-check rounds, and how long a checkpoint that does not move is waited for (sdl not running). */
  settle?: { rounds?: number; stallMs?: number; pollMs?: number };
  /** Decodes on the streaming worker pool when given; inline otherwise. */
  decoder?: Decoder;
  /** Rewrites the differing keys from MySQL through the snapshot's commit path. */
  repair?: RepairDeps;
  /** Rows per source chunk (and per `$in` read of the mirror). */
  chunkRows?: number;
}

/** A key that differed in a pass: its source key values (to read it again) and `_id`. */
interface Candidate {
  kind: 'missing' | 'different';
  sourceKey: RawValue[];
  id: unknown;
  diffs: FieldDiff[];
  label: string;
  /** Re-check rounds in a row that found the row and no document. */
  absentRounds?: number;
}

interface ExtraCandidate {
  id: unknown;
  label: string;
}

/**
 * Compares every included table (or `tables`) with its mirror, a chunk of rows at a time in
 * key order: memory holds one chunk, the differing keys, one identity string per source key
 * (to find mirror documents no row has) and, during that pass, one digest per mirror document
 * not yet compared (see `indexMirror`). Canonical Extended JSON of the streaming decoder's
 * output is compared, so a value stored with the wrong BSON type counts as different.
 *
 * While sdl runs, a first pass finds candidate differences; each is then re-checked (see
 * `settleKeys`) so only differences that replication will not fix are reported.
 */
export async function verify(opts: VerifyOptions): Promise<VerifyReport> {
  const conn = await connectExact(opts.mysqlUrl);
  try {
    const [v] = await conn.query('SELECT VERSION() AS v');
    const mariadb = /mariadb/i.test(String((v as { v: string }[])[0]?.v ?? ''));
    const filter = new IncludeFilter(opts.include);
    const all = await listTables(conn, (d) => filter.includesDb(d), (d, t) => filter.includes(d, t));
    const tables = opts.tables === undefined ? all : pick(all, opts.tables);
    const watch = opts.pipeline === undefined ? undefined : new CheckpointWatch(opts.pipeline.db, opts.pipeline.name, opts.settle);
    const epoch = (await watch?.epoch()) ?? 0;
    const reports: TableReport[] = [];
    for (const { db, table } of tables) {
      const schema = await currentSchema(conn, db, table);
      reports.push(await new TableVerify(opts, conn, mariadb, schema, epoch, watch).run());
    }
    const ok = reports.every((r) => {
      const differs = r.counts.missing + r.counts.extra + r.counts.different + r.counts.unsettled > 0;
      const fixed = r.repaired !== undefined && r.repaired.failed === 0 && (r.collisions ?? 0) === 0;
      return !differs || fixed;
    });
    return { ok, tables: reports };
  } finally {
    await conn.end();
  }
}

/** `--tables`: each name must be an included table of the source. */
function pick(all: readonly { db: string; table: string }[], names: readonly string[]): { db: string; table: string }[] {
  return names.map((n) => {
    const t = all.find((x) => `${x.db}.${x.table}` === n);
    if (t === undefined) throw new VerifyTableError(n);
    return t;
  });
}

/** A `--tables` name that is not an included table: a configuration error (exit 2). */
export class VerifyTableError extends SdlError {
  constructor(readonly table: string) {
    super('VERIFY_TABLES', `--tables: ${table} is not an included table of the source`, 'config', 'name tables as db.table, each one that exists and that mysql.include (SDL_INCLUDE) includes');
  }
}

/**
 * Whether the table can be read a chunk at a time by key. A key with an ENUM or SET column
 * cannot (see assertKeysetOrder): such a table is read in one query, whole, so its memory is
 * the table's.
 */
async function keysetPages(conn: Connection, schema: TableSchema): Promise<boolean> {
  try {
    await assertKeysetOrder(conn, schema);
    return true;
  } catch (err) {
    if (err instanceof SdlError && err.code === 'SNAPSHOT_KEY') return false;
    throw err;
  }
}

class TableVerify {
  private readonly report: TableReport;
  private readonly max: number;
  private readonly chunkRows: number;
  private readonly coll;

  constructor(
    private readonly opts: VerifyOptions,
    private readonly conn: Connection,
    private readonly mariadb: boolean,
    private readonly schema: TableSchema,
    private readonly epoch: number,
    private readonly watch: CheckpointWatch | undefined,
  ) {
    this.report = { db: schema.db, table: schema.table, sourceRows: 0, mirrorDocs: 0, counts: { missing: 0, extra: 0, different: 0, unsettled: 0 }, rechecked: 0, missing: [], extra: [], different: [], unsettled: [] };
    this.max = opts.maxListed ?? 20;
    this.chunkRows = opts.chunkRows ?? 1000;
    const ns = mirrorNamespace(schema.db, schema.table, opts.databaseMap);
    this.coll = opts.mongo.db(ns.db).collection<Document>(ns.collection);
  }

  async run(): Promise<TableReport> {
    if (this.schema.key.length === 0) {
      this.report.skipped = 'no primary or unique NOT NULL key: event log only';
      return this.report;
    }
    const paged = await keysetPages(this.conn, this.schema);
    // MariaDB, keyset pages: a view per chunk, as the initial snapshot reads, so no transaction
    // stays open for the whole table (a DDL on it would wait, and every write behind the DDL).
    // The re-check rounds below open views after the last chunk's, so the first chunk's view
    // (P0) stays the reference for documents written since and for extras.
    const perChunk = this.mariadb && paged;
    const view = await this.openView();
    const seen = new Set<string>();
    let index: Map<string, DocDigest> | undefined;
    const candidates = new Map<string, Candidate>();
    let extras: ExtraCandidate[] = [];
    try {
      let after: RawValue[] | null = null;
      // A row with a larger key than the last one at P0 was inserted since: its document is newer than P0.
      const upTo = perChunk ? await readLastKey(this.conn, this.schema) : undefined;
      if (perChunk) await this.conn.query('COMMIT');
      index = await this.indexMirror();
      for (;;) {
        if (upTo === null) break;
        let rows: RawRow[];
        if (perChunk) {
          rows = await this.chunkInItsView(after, upTo);
        } else {
          rows = await readChunk(this.conn, this.schema, after, paged ? this.chunkRows : Number.MAX_SAFE_INTEGER);
        }
        if (rows.length === 0) break;
        after = keyOf(this.schema, rows[rows.length - 1] ?? {});
        this.report.sourceRows += rows.length;
        for (const c of await this.compareRows(rows, seen, index)) candidates.set(keyIdentity(c.id), c);
        if (!paged) break;
      }
    } finally {
      if (!perChunk) await this.conn.query('COMMIT');
    }
    index = undefined;
    extras = await this.scanExtras(seen, view);
    seen.clear();
    const settled = await this.settle(candidates, extras, view);
    for (const c of settled.confirmed) this.note(c);
    for (const e of settled.extras) {
      this.report.counts.extra++;
      if (this.report.extra.length < this.max) this.report.extra.push(e.label);
    }
    for (const c of settled.unsettled) {
      this.report.counts.unsettled++;
      if (this.report.unsettled.length < this.max) this.report.unsettled.push(c.label);
    }
    const refused = this.opts.repair !== undefined && settled.confirmed.length + settled.extras.length + settled.unsettled.length > 0 ? await this.opts.repair.refuse?.(this.schema) : undefined;
    if (refused !== undefined) this.report.repairRefused = refused;
    else if (this.opts.repair !== undefined && settled.confirmed.length + settled.extras.length + settled.unsettled.length > 0) {
      this.report.repaired = await repairTable(this.opts.repair, {
        conn: this.conn,
        mariadb: this.mariadb,
        schema: this.schema,
        epoch: this.epoch,
        rewrite: [...settled.confirmed, ...settled.unsettled].map((c) => ({ sourceKey: c.sourceKey, id: c.id })),
        remove: settled.extras.map((e) => e.id),
        removeUpTo: snapshotSeq({ ...view, epoch: this.epoch }),
        decode: (rows) => this.decode(rows),
      });
    }
    return this.report;
  }

  /** One chunk of the first pass under a view of its own (a DDL before the read: read again under a new one). */
  private chunkInItsView(after: RawValue[] | null, upTo: RawValue[] | undefined): Promise<RawRow[]> {
    return inOwnView(this.conn, () => readChunk(this.conn, this.schema, after, this.chunkRows, upTo));
  }

  private async openView(): Promise<SourcePosition> {
    const pos = await openSnapshotView(this.conn, this.mariadb);
    return this.epoch > 0 ? { ...pos, epoch: this.epoch } : pos;
  }

  /**
   * Decodes the first pass's source rows and returns the keys that differ: each row against its
   * document's digest in `index` (taken out as it is compared), and where the digests differ
   * against the document itself, read again by `_id`. Records every key in `seen` and reports two
   * rows mapping to one `_id` (nothing to re-check: it is wrong however long one waits).
   */
  private async compareRows(rows: readonly RawRow[], seen: Set<string>, index: Map<string, DocDigest>): Promise<Candidate[]> {
    const decoded = await this.decode(rows);
    const out: Candidate[] = [];
    const reread = new Map<string, { want: Expected; change: DecodedChange; base: { sourceKey: RawValue[]; id: unknown; label: string } }>();
    for (const [i, change] of decoded.entries()) {
      const identity = keyIdentity(change.key);
      const want = expectedOf(change);
      const row = rows[i] ?? {};
      if (seen.has(identity)) {
        this.report.collisions = (this.report.collisions ?? 0) + 1;
        this.noteDiff({ key: want.id, field: '_id', mysql: `more than one source row maps to this _id (one is ${sourceKey(this.schema, want)})`, mongo: 'one document' });
        continue;
      }
      seen.add(identity);
      const base = { sourceKey: keyOf(this.schema, row), id: change.key, label: want.id };
      const got = index.get(identity);
      index.delete(identity);
      if (got === undefined) out.push({ ...base, kind: 'missing', diffs: [] });
      else if (!digestMatches(want, got)) reread.set(identity, { want, change, base });
    }
    if (reread.size === 0) return out;
    const docs = await this.mirrorDocs([...reread.values()].map((r) => r.change.key));
    for (const [identity, { want, base }] of reread) {
      const doc = docs.get(identity);
      if (doc === undefined) out.push({ ...base, kind: 'missing', diffs: [] });
      else {
        const diffs = compareDoc(want, doc);
        if (diffs.length > 0) out.push({ ...base, kind: 'different', diffs });
      }
    }
    return out;
  }

  /**
   * Every mirror document of the table as a digest (see `docDigest`), by `_id` identity, in one
   * pass in the server's own order. One pass, not a read per chunk of rows: FerretDB 1.24 on
   * SQLite pushes no `_id` range, `$in`, equality on a number nor sort down to SQLite and scans
   * the whole collection for each query, so reads per chunk grew with rows² / chunk.
   */
  private async indexMirror(): Promise<Map<string, DocDigest>> {
    const out = new Map<string, DocDigest>();
    for await (const d of this.coll.find({}, { promoteValues: false, promoteLongs: false, batchSize: this.chunkRows })) out.set(keyIdentity(d['_id']), docDigest(d));
    return out;
  }

  /** Mirror documents that no source row of the pass has, by a scan of `_id`s only. */
  private async scanExtras(seen: Set<string>, view: SourcePosition): Promise<ExtraCandidate[]> {
    const out: ExtraCandidate[] = [];
    const viewSeq = snapshotSeq(view);
    const cursor = this.coll.find({}, { projection: { _id: 1, '_sdl.pos': 1 }, promoteValues: false, promoteLongs: false, batchSize: this.chunkRows });
    for await (const doc of cursor) {
      this.report.mirrorDocs++;
      if (seen.has(keyIdentity(doc['_id']))) continue;
      // Written from a change after the view: a row inserted since, not a leftover.
      if (this.watch !== undefined && docPos(doc) > viewSeq) continue;
      out.push({ id: doc['_id'], label: canonical(doc['_id']) });
    }
    return out;
  }

  /**
   * The re-check rule. While sdl runs, a mirror document may lag its row (the change is not
   * applied yet) or lead it (a newer change is applied). So each round opens a new consistent
   * view at position P, reads the candidate rows there, waits until the pipeline's checkpoint
   * has reached P (or has not moved for `stallMs`: sdl is not running), and reads their mirror
   * documents again. A document written from a change after P (`_sdl.pos` past P's seq) leads
   * the row and stays a candidate for the next round; any other document now reflects every
   * change up to P, so it is compared with the row as of P and the verdict is final (a missing
   * document must be missing in two rounds: see below). An extra
   * document (no row in the first view at P0) is confirmed once the checkpoint has passed P0 and
   * it is still there, not rewritten since. Candidates left after the last round are `unsettled`.
   */
  private async settle(candidates: Map<string, Candidate>, extras: ExtraCandidate[], first: SourcePosition): Promise<{ confirmed: Candidate[]; extras: ExtraCandidate[]; unsettled: Candidate[] }> {
    if (this.watch === undefined) return { confirmed: [...candidates.values()], extras, unsettled: [] };
    this.report.rechecked = candidates.size + extras.length;
    const confirmed: Candidate[] = [];
    let open = [...candidates.values()];
    const rounds = this.opts.settle?.rounds ?? 5;
    let extrasLeft = extras;
    let extrasDone = extras.length === 0;
    for (let round = 0; round < rounds && (open.length > 0 || !extrasDone); round++) {
      const view = await this.openView();
      let rows: RawRow[];
      try {
        rows = await readKeys(this.conn, this.schema, open.map((c) => c.sourceKey));
      } finally {
        await this.conn.query('COMMIT');
      }
      await this.watch.reach(view);
      if (!extrasDone) {
        extrasLeft = await this.stillExtra(extrasLeft, snapshotSeq(first));
        extrasDone = true;
      }
      const seq = snapshotSeq(view);
      const decoded = await this.decode(rows);
      const found = new Map(decoded.map((c, i) => [keyIdentity(c.key), { change: c, row: rows[i] ?? {} }]));
      const docs = await this.mirrorDocs(open.map((c) => c.id));
      const next: Candidate[] = [];
      for (const c of open) {
        const identity = keyIdentity(c.id);
        const doc = docs.get(identity);
        const src = found.get(identity);
        if (doc !== undefined && docPos(doc) > seq) {
          next.push({ ...c, absentRounds: 0 });
          continue;
        }
        if (src === undefined && doc === undefined) continue;
        if (src === undefined) {
          // The row is gone as of P and the document, as of P, is still there.
          confirmed.push({ ...c, kind: 'different', diffs: [{ key: c.label, field: '_id', mysql: '<no row>', mongo: 'document' }] });
          continue;
        }
        if (doc === undefined) {
          // Twice, in two views: a mirror written by sets (replace-set, FerretDB) has a key absent for a moment while a newer image replaces it.
          const absent = (c.absentRounds ?? 0) + 1;
          if (absent >= 2) confirmed.push({ ...c, kind: 'missing', diffs: [] });
          else next.push({ ...c, absentRounds: absent });
          continue;
        }
        const diffs = compareDoc(expectedOf(src.change), doc);
        if (diffs.length > 0) confirmed.push({ ...c, kind: 'different', diffs });
      }
      open = next;
    }
    return { confirmed, extras: extrasLeft, unsettled: open };
  }

  /** Extra candidates still there, and not rewritten since the first view (`_sdl.pos` at or before `seq`). */
  private async stillExtra(extras: readonly ExtraCandidate[], seq: string): Promise<ExtraCandidate[]> {
    const docs = await this.mirrorDocs(extras.map((e) => e.id));
    return extras.filter((e) => {
      const doc = docs.get(keyIdentity(e.id));
      return doc !== undefined && docPos(doc) <= seq;
    });
  }

  private async mirrorDocs(ids: readonly unknown[]): Promise<Map<string, Document>> {
    const out = new Map<string, Document>();
    for (let i = 0; i < ids.length; i += this.chunkRows) {
      const part = ids.slice(i, i + this.chunkRows);
      // Keys are any BSON value, not the ObjectId the driver's Filter type assumes.
      const docs = await this.coll.find({ _id: { $in: part } } as Filter<Document>, { promoteValues: false, promoteLongs: false }).toArray();
      for (const d of docs) out.set(keyIdentity(d['_id']), d);
    }
    return out;
  }

  private async decode(rows: readonly RawRow[]): Promise<DecodedChange[]> {
    const changes: RowChange[] = rows.map((row, i) => ({ op: 'insert', schema: 0, before: null, after: row, id: `verify#${i}`, seq: '' }));
    const transactions = [{ gtid: undefined, ts: 0, schemas: [this.schema], changes }];
    if (this.opts.decoder !== undefined) return this.opts.decoder.decode({ transactions });
    return rehydrate(decodeBatch({ transactions, caps: this.opts.caps }));
  }

  private note(c: Candidate): void {
    if (c.kind === 'missing') {
      this.report.counts.missing++;
      if (this.report.missing.length < this.max) this.report.missing.push(c.label);
      return;
    }
    this.report.counts.different++;
    for (const d of c.diffs) if (this.report.different.length < this.max) this.report.different.push(d);
  }

  private noteDiff(d: FieldDiff): void {
    this.report.counts.different++;
    if (this.report.different.length < this.max) this.report.different.push(d);
  }
}
