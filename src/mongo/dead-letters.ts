import { Binary, type Collection, type Db, type Document, type Filter, type MongoClient } from 'mongodb';
import type { DecodedChange } from '../pipeline/types.js';
import { decodeChange, encodeChange } from './batch-codec.js';
import { classifyMongoError, reasonOf } from './errors.js';
import { insertEvents } from './events.js';
import { COLLECTIONS } from './layout.js';
import { applyMirrors, type MirrorOp } from './mirrors.js';
import { decodeParts, encodeParts } from './payload.js';
import type { Rejection, Target } from './write-shape.js';

/**
 * A change the server would not take. The change itself is kept as a BSON payload (in parts
 * when large), because whatever the server refused in it (a '.' in a key, a nested array, its
 * size) would make a plain copy fail the same way. The readable fields are for people and filters.
 */
export interface DeadLetterDoc {
  _id: string;
  /** Set on continuation parts only: the dead letter they belong to. */
  partOf?: string;
  part: number;
  parts: number;
  payload: Binary;
  change?: { id: string; seq: string; op: string; db: string; table: string; gtid: string | null; ts: Date; key: string };
  target?: Target;
  reason?: { code: number | string | null; message: string };
  at?: Date;
  firstAt?: Date;
  replayed?: boolean;
  replayedAt?: Date;
  lastReplayError?: { code: number | string | null; message: string };
}

export function deadLettersCollection(db: Db): Collection<DeadLetterDoc> {
  return db.collection<DeadLetterDoc>(COLLECTIONS.deadLetters);
}

/** Same change, same target → same id, so a replayed batch does not add a second letter. */
export function deadLetterId(changeId: string, target: Target): string {
  return target.kind === 'event' ? `${changeId}|event` : `${changeId}|mirror:${target.db}.${target.collection}`;
}

export async function writeDeadLetters(db: Db, rejections: readonly Rejection[]): Promise<number> {
  const coll = deadLettersCollection(db);
  for (const r of rejections) {
    const id = deadLetterId(r.change.id, r.target);
    const payload: Document = { c: encodeChange(r.change) };
    if (r.mirror !== undefined) payload['mirror'] = r.mirror;
    const parts = encodeParts([payload]);
    for (const [i, part] of parts.entries()) {
      if (i === 0) continue;
      await coll.updateOne(
        { _id: `${id}#${i}` },
        { $set: { partOf: id, part: i, parts: parts.length, payload: new Binary(part) } },
        { upsert: true },
      );
    }
    const c = r.change;
    await coll.updateOne(
      { _id: id },
      {
        $set: {
          part: 0,
          parts: parts.length,
          payload: new Binary(parts[0]),
          change: { id: c.id, seq: c.seq, op: c.op, db: c.db, table: c.table, gtid: c.gtid ?? null, ts: new Date(c.ts), key: keyText(c.key) },
          target: r.target,
          reason: { code: r.reason.code ?? null, message: r.reason.message },
          at: new Date(),
          // Failing again after a replay means it is not fixed.
          replayed: false,
        },
        $setOnInsert: { firstAt: new Date() },
      },
      { upsert: true },
    );
  }
  return rejections.length;
}

function keyText(key: unknown): string {
  try {
    return JSON.stringify(key) ?? 'null';
  } catch {
    return String(key);
  }
}

export interface DeadLetter {
  change: DecodedChange;
  mirror?: { kind: 'upsert' | 'delete'; key: unknown };
}

export async function readDeadLetter(db: Db, id: string): Promise<DeadLetter> {
  const coll = deadLettersCollection(db);
  const head = await coll.findOne({ _id: id });
  if (head === null) throw new Error(`no dead letter ${id}`);
  const rest = head.parts > 1 ? await coll.find({ partOf: id }).sort({ part: 1 }).toArray() : [];
  const payloads = [head, ...rest].map((d) => d.payload.buffer);
  const [doc] = decodeParts(payloads);
  if (doc === undefined || rest.length !== head.parts - 1) throw new Error(`dead letter ${id} is incomplete`);
  const letter: DeadLetter = { change: decodeChange(doc['c'] as Document) };
  const mirror = doc['mirror'] as { kind: 'upsert' | 'delete'; key: unknown } | undefined;
  if (mirror !== undefined) letter.mirror = { kind: mirror.kind, key: mirror.key };
  return letter;
}

export interface ReplayResult {
  replayed: number;
  failed: number;
}

/**
 * For an operator, after fixing what made the server refuse: writes each unreplayed dead
 * letter matching `filter` again (with the same idempotence and position guard as the
 * committer) and marks those that now succeed. Transient errors propagate.
 */
export async function replayDeadLetters(client: MongoClient, db: Db, filter: Filter<DeadLetterDoc> = {}): Promise<ReplayResult> {
  const coll = deadLettersCollection(db);
  const out: ReplayResult = { replayed: 0, failed: 0 };
  const ids = await coll
    .find({ ...filter, replayed: false, partOf: { $exists: false } }, { projection: { _id: 1 } })
    .toArray();
  for (const { _id } of ids) {
    const head = await coll.findOne({ _id });
    if (head?.target === undefined) continue;
    const letter = await readDeadLetter(db, _id);
    const change = letter.change;
    let failure: Rejection | undefined;
    try {
      failure = await replayOne(client, letter, head.target);
    } catch (err) {
      if (classifyMongoError(err) === 'transient') throw err;
      const r = reasonOf(err);
      failure = { change, target: head.target, reason: r };
    }
    if (failure === undefined) {
      await coll.updateOne({ _id }, { $set: { replayed: true, replayedAt: new Date() } });
      out.replayed++;
    } else {
      await coll.updateOne({ _id }, { $set: { lastReplayError: { code: failure.reason.code ?? null, message: failure.reason.message } } });
      out.failed++;
    }
  }
  return out;
}

/** `db.table` of the source tables whose unreplayed dead letters would write a mirror. */
export async function unreplayedMirrorTables(db: Db): Promise<string[]> {
  const docs = await deadLettersCollection(db).find({ replayed: false, partOf: { $exists: false }, 'target.kind': 'mirror' }, { projection: { change: 1 } }).toArray();
  return [...new Set(docs.flatMap((d) => (d.change === undefined ? [] : [`${d.change.db}.${d.change.table}`])))];
}

async function replayOne(client: MongoClient, letter: DeadLetter, target: Target): Promise<Rejection | undefined> {
  const change = letter.change;
  if (target.kind === 'event') {
    const res = await insertEvents(client.db(target.db).collection(target.collection), [change]);
    return res.rejected[0];
  }
  const op: MirrorOp = letter.mirror !== undefined ? { ...letter.mirror, change } : { kind: change.op === 'delete' ? 'delete' : 'upsert', key: change.key, change };
  const res = await applyMirrors(client, [{ ns: { db: target.db, collection: target.collection }, ops: [op] }]);
  return res.rejected[0];
}
