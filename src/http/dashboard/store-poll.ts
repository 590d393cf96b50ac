import type { Db } from 'mongodb';
import { COLLECTIONS } from '../../mongo/layout.js';

/** What only MongoDB knows: the staging backlog, unreplayed dead letters, who holds the lease. */
export interface StoreFacts {
  /** When these were read (ms since epoch); the page shows their age. */
  readAt: number;
  /** Staged batches of this pipeline still `pending` (written, not yet applied and released). */
  stagedPending: number;
  deadLettersUnreplayed: number;
  lease: { owner: string; term: number; expiresAt: number } | null;
}

/** Each query gives up this soon, so a MongoDB outage shows as stale facts, not a hung page. */
const QUERY_MS = 2000;

/** Reads the facts once; throws when MongoDB does not answer (the caller keeps the last ones). */
export async function readStoreFacts(db: Db, pipeline: string): Promise<StoreFacts> {
  const [stagedPending, deadLettersUnreplayed, lease] = await Promise.all([
    db.collection(COLLECTIONS.staging).countDocuments({ pipeline, status: 'pending', part: 0 }, { maxTimeMS: QUERY_MS }),
    db.collection(COLLECTIONS.deadLetters).countDocuments({ replayed: false }, { maxTimeMS: QUERY_MS }),
    db.collection<{ _id: string; owner: string; term: number; expiresAt: Date }>(COLLECTIONS.leases).findOne({ _id: pipeline }, { maxTimeMS: QUERY_MS }),
  ]);
  return {
    readAt: Date.now(),
    stagedPending,
    deadLettersUnreplayed,
    lease: lease === null ? null : { owner: lease.owner, term: lease.term, expiresAt: lease.expiresAt.getTime() },
  };
}
