import { hostname } from 'node:os';
import type { Collection, Db } from 'mongodb';
import { SdlError } from '../errors.js';
import { isDuplicateKey } from './errors.js';
import { COLLECTIONS } from './layout.js';

interface LeaseDoc {
  _id: string;
  owner: string;
  /** Grows by one at every takeover; checkpoint writes carry it so a deposed writer is fenced off. */
  term: number;
  expiresAt: Date;
}

export interface Lease {
  owner: string;
  term: number;
  /** When the request that took the lease was sent (local clock): its validity counts from there. */
  sentAt: number;
}

export function leaseOwner(): string {
  return `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
}

function leases(db: Db): Collection<LeaseDoc> {
  return db.collection<LeaseDoc>(COLLECTIONS.leases);
}

/**
 * Takes the pipeline's single-writer lease, waiting as a standby while another live instance
 * holds it (its lease not expired). Resolves with the new term.
 */
export async function acquireLease(db: Db, pipeline: string, owner: string, ttlMs: number, onStandby: (holder: string, until: Date) => void, signal?: AbortSignal): Promise<Lease> {
  let reported = '';
  for (;;) {
    if (signal?.aborted === true) throw new SdlError('STOPPED', 'stopped while waiting for the lease', 'permanent');
    const now = new Date();
    const sentAt = Date.now();
    try {
      const doc = await leases(db).findOneAndUpdate(
        { _id: pipeline, $or: [{ expiresAt: { $lt: now } }, { owner }] },
        { $set: { owner, expiresAt: new Date(now.getTime() + ttlMs) }, $inc: { term: 1 } },
        { upsert: true, returnDocument: 'after' },
      );
      if (doc !== null) return { owner, term: doc.term, sentAt };
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const holder = await leases(db).findOne({ _id: pipeline });
    if (holder !== null && holder.owner !== reported) {
      reported = holder.owner;
      onStandby(holder.owner, holder.expiresAt);
    }
    await new Promise((r) => setTimeout(r, Math.max(200, Math.floor(ttlMs / 3))));
  }
}

/** Extends the lease; false when another instance has taken it (this one must stop writing at once). */
export async function renewLease(db: Db, pipeline: string, lease: Lease, ttlMs: number): Promise<boolean> {
  const res = await leases(db).updateOne({ _id: pipeline, owner: lease.owner, term: lease.term }, { $set: { expiresAt: new Date(Date.now() + ttlMs) } });
  return res.matchedCount === 1;
}

/**
 * How long this instance may still write. A standby takes over once the lease document's
 * `expiresAt` (the writer's renewal time + TTL) has passed; the writer counts from the moment it
 * *sent* its last successful renewal, which is no later, and stops starting writes a third of
 * a TTL before that, so a write command started in time is over before anyone else can write
 * (renewals every quarter TTL keep a healthy writer well inside its window).
 */
export class WriteFence {
  private validUntil = 0;
  private waiters: (() => void)[] = [];
  /** The last renewal failed and none succeeded since. */
  private failing = false;

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    /** How long `ready()` waits for a renewal before giving up (a lease's TTL by default). */
    private readonly waitMs: number = ttlMs,
  ) {}

  /** A lease acquisition or renewal sent at `sentAt` succeeded. */
  renewed(sentAt: number): void {
    this.validUntil = Math.max(this.validUntil, sentAt + this.ttlMs);
    this.failing = false;
    if (this.writable) this.wake();
  }

  /** A renewal failed (MongoDB unreachable): nothing is waited for until one succeeds again. */
  renewalFailed(): void {
    this.failing = true;
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }

  get writable(): boolean {
    return this.now() < this.validUntil - this.ttlMs / 3;
  }

  /**
   * Resolves once a write command may be sent. A renewal that is merely late (MongoDB slow to
   * answer it, often because of this writer's own large writes) is waited for, up to `waitMs`,
   * instead of failing the step: a failed step is retried from its start, redoing the writes
   * that slowed the renewal, and on a loaded server that loop can keep the fence shut for good.
   * While renewals fail, or past the wait, it throws a transient error (MongoDB unreachable, or
   * the lease lost, which the lease keeper reports).
   */
  async ready(): Promise<void> {
    if (this.writable) return;
    // Renewals failing (an outage): fail now, so the step backs off and says so.
    if (this.failing) this.check();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve();
      }, this.waitMs);
      timer.unref();
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(wake);
    });
    this.check();
  }

  /** Throws a transient error (the committer backs off until the lease is renewed, or lost). */
  check(): void {
    if (this.writable) return;
    throw new SdlError('LEASE_STALE', `the single-writer lease was last renewed ${Math.round((this.now() - (this.validUntil - this.ttlMs)) / 1000)} s ago: not writing until it is renewed`, 'transient', undefined, { retry: 'election' });
  }
}
