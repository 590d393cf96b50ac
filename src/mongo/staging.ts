import { Binary, type Collection, type Db } from 'mongodb';
import type { StagedPayload } from '../decode/wire.js';
import type { Batch } from '../pipeline/types.js';
import { decodeBatch, encodeBatch } from './batch-codec.js';
import { APPLIED_STAGING_TTL_SECONDS, COLLECTIONS } from './layout.js';
import { PART_BYTES } from './payload.js';

/** One staging document: one part of one batch's payload. */
export interface StagingDoc {
  _id: string;
  /** Written since pipelines were scoped; documents without it predate that (see listPending). */
  pipeline?: string;
  batch: string;
  part: number;
  parts: number;
  /**
   * `open`: a slice of a source transaction not committed yet (never applied; deleted at the
   * next start, the binlog re-read stages it again); `pending`: to apply; `applied`: done.
   */
  status: 'open' | 'pending' | 'applied';
  /** The streamed group an open slice belongs to (TxnSlice.group, scoped by pipeline). */
  group?: string;
  /** Staging order; pending batches are re-applied in this order. */
  order: number;
  stagedAt: Date;
  appliedAt?: Date;
  payload?: Binary;
}

export interface StagingOptions {
  /** False when the server has no TTL index (FerretDB 1.x): applied docs are purged by us. */
  ttl?: boolean;
  partBytes?: number;
}

/**
 * The `row_changes_staging` collection: batches written before they are applied. Its writes carry
 * the client's write concern, decided once at start (src/mongo/target.ts): a server that refuses
 * it fails the write loudly, and nothing here retries with a weaker one.
 */
export class Staging {
  private readonly db: () => Db;
  private lastOrder = 0;
  private marks = 0;

  /** `db` may be a function: the writing client can be replaced while this staging's order carries on (MongoTarget.heal). */
  constructor(db: Db | (() => Db), private readonly pipeline: string, private readonly opts: StagingOptions = {}) {
    this.db = typeof db === 'function' ? db : () => db;
  }

  get coll(): Collection<StagingDoc> {
    return this.db().collection<StagingDoc>(COLLECTIONS.staging);
  }

  /**
   * Writes the batch as `pending` (or `open`, see StagingDoc); a re-staged batch (replay) replaces
   * its earlier copy. `payload`, the batch's encoding made by its decode task, is written as it is
   * when it encodes this batch with this staging's part size; otherwise the batch is encoded here.
   */
  async stageBatch(batch: Batch, status: 'pending' | 'open' = 'pending', payload?: StagedPayload): Promise<{ parts: number; bytes: number }> {
    const partBytes = this.opts.partBytes ?? PART_BYTES;
    const parts: Uint8Array[] = payload !== undefined && payload.batch === batch.id && payload.partBytes === partBytes ? payload.parts : encodeBatch(batch, partBytes);
    const order = this.nextOrder();
    const stagedAt = new Date();
    // Parts after the first go in first: listPending only trusts a batch whose parts are all there.
    const indexes = [...parts.keys()].reverse();
    for (const i of indexes) {
      const doc: StagingDoc = {
        _id: `${batch.id}#${i}`,
        pipeline: this.pipeline,
        batch: batch.id,
        part: i,
        parts: parts.length,
        status,
        ...(batch.slice !== undefined ? { group: batch.slice.group } : {}),
        order,
        stagedAt,
        payload: new Binary(parts[i]),
      };
      await this.coll.replaceOne({ _id: doc._id }, doc, { upsert: true });
    }
    // A different earlier encoding of the same batch id may have had more parts.
    await this.coll.deleteMany({ batch: batch.id, pipeline: this.pipeline, part: { $gte: parts.length } });
    return { parts: parts.length, bytes: parts.reduce((n, p) => n + p.byteLength, 0) };
  }

  /**
   * Stages an open slice, unless a complete copy of it is staged open already: the reader read
   * the open transaction again after a reconnect, and its slices are the same (deterministic).
   */
  async stageOpen(batch: Batch): Promise<{ parts: number; bytes: number }> {
    const head = await this.coll.findOne({ _id: `${batch.id}#0`, status: 'open' }, { projection: { parts: 1 } });
    if (head !== null && await this.coll.countDocuments({ batch: batch.id, status: 'open' }) === head.parts) return { parts: head.parts, bytes: 0 };
    return this.stageBatch(batch, 'open');
  }

  /** Complete pending batches in staging order, with their BSON classes restored. */
  async listPending(): Promise<Batch[]> {
    const batches: Batch[] = [];
    for await (const b of this.pending()) batches.push(b);
    return batches;
  }

  /**
   * Complete pending batches (of one streamed group, when named) in staging order, read one at
   * a time: a committed group can hold more rows than memory should.
   */
  async *pending(group?: string): AsyncGenerator<Batch> {
    // Documents staged before pipelines were scoped carry no pipeline: they can only be this
    // deployment's own (a shared sdl database needed the scoping to work at all).
    const scope = group === undefined ? { $or: [{ pipeline: this.pipeline }, { pipeline: { $exists: false } }] } : { pipeline: this.pipeline, group };
    const heads = await this.coll
      .find({ status: 'pending', part: 0, ...scope }, { projection: { batch: 1, parts: 1, order: 1 } })
      .sort({ order: 1, _id: 1 })
      .toArray();
    for (const head of heads) {
      const docs = await this.coll.find({ batch: head.batch, status: 'pending' }).sort({ part: 1 }).toArray();
      // Incomplete: staging was interrupted, so the batch was never applied; the binlog re-read brings it again.
      if (docs.length !== head.parts || docs.some((d, i) => d.part !== i || d.payload === undefined)) continue;
      yield decodeBatch(docs.map((d) => (d.payload as Binary).buffer));
    }
  }

  /**
   * The group committed: its open slices become pending, so they are applied now and, after a
   * crash, by recovery. Done before the closing batch is staged, so a recovery that finds the
   * closing batch (and writes its checkpoint) always finds the whole group pending before it.
   */
  async commitGroup(group: string): Promise<number> {
    const res = await this.coll.updateMany({ pipeline: this.pipeline, group, status: 'open' }, { $set: { status: 'pending' } });
    return res.modifiedCount;
  }

  /** Start: slices of groups whose commit was never staged. The binlog re-read stages them again. */
  async deleteOpen(): Promise<number> {
    const res = await this.coll.deleteMany({ pipeline: this.pipeline, status: 'open' });
    return res.deletedCount;
  }

  async markApplied(batchId: string): Promise<void> {
    await this.coll.updateMany(
      { batch: batchId, $or: [{ pipeline: this.pipeline }, { pipeline: { $exists: false } }] },
      { $set: { status: 'applied', appliedAt: new Date() }, $unset: { payload: '' } },
    );
    if (this.opts.ttl === false && ++this.marks % 100 === 1) await this.purgeApplied();
  }

  /** What the TTL index does where the server has one. */
  async purgeApplied(olderThanSeconds = APPLIED_STAGING_TTL_SECONDS): Promise<number> {
    const cutoff = new Date(Date.now() - olderThanSeconds * 1000);
    const res = await this.coll.deleteMany({ status: 'applied', appliedAt: { $lt: cutoff } });
    return res.deletedCount;
  }

  private nextOrder(): number {
    this.lastOrder = Math.max(this.lastOrder + 1, Date.now() * 1000);
    return this.lastOrder;
  }
}
