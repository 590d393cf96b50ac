import type { Db } from 'mongodb';
import { type EventObject, fromCallback } from 'xstate';
import type { ErrorInfo } from '../errors.js';
import { renewLease, type Lease, type WriteFence } from '../mongo/lease.js';

export interface LeaseKeeperInput {
  lease: Lease | undefined;
}

export type LeaseKeeperEvent = { type: 'CHILD_FAILED'; child: 'lease'; error: ErrorInfo };

export interface LeaseKeeperDeps {
  /** The writing client's database (known once prepare has decided the write concern). */
  db: () => Db;
  pipeline: string;
  ttlMs: number;
  /** Told of every successful renewal, so writes stop when renewals do. */
  fence: WriteFence;
  onRenewalError: (err: unknown) => void;
}

/**
 * Renews the pipeline's single-writer lease every third of its TTL while the pipeline runs.
 * Lost to another instance → reports a permanent failure, so the supervisor stops the machines
 * and the process exits 1 (checkpoint writes are fenced by term in the meantime). A failed
 * renewal (MongoDB unreachable) is retried at the next tick: nothing can be written then either.
 */
export function leaseKeeper(deps: LeaseKeeperDeps) {
  return fromCallback<EventObject, LeaseKeeperInput, LeaseKeeperEvent>(({ input, sendBack }) => {
    const lease = input.lease;
    if (lease === undefined) return undefined;
    let done = false;
    const timer = setInterval(() => {
      const sentAt = Date.now();
      renewLease(deps.db(), deps.pipeline, lease, deps.ttlMs).then(
        (held) => {
          if (held) deps.fence.renewed(sentAt);
          if (held || done) return;
          done = true;
          clearInterval(timer);
          sendBack({
            type: 'CHILD_FAILED',
            child: 'lease',
            error: {
              code: 'LEASE_LOST',
              errorClass: 'permanent',
              message: `another sdl instance took over pipeline ${deps.pipeline} (this one held term ${lease.term})`,
              hint: 'expected after a failover to a standby; otherwise check that the MongoDB clocks and the leaseTtlMs of both instances agree',
            },
          });
        },
        (err: unknown) => {
          deps.fence.renewalFailed();
          deps.onRenewalError(err);
        },
      );
    }, Math.max(250, Math.floor(deps.ttlMs / 4)));
    return () => {
      done = true;
      clearInterval(timer);
    };
  });
}
