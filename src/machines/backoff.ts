import type { ErrorInfo, RetryKind } from '../errors.js';

/** Exponential backoff with full jitter (AWS architecture blog), capped. */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}


/**
 * How each kind of transient failure is retried (first ceiling, cap; full jitter between 0 and
 * the ceiling, which doubles per attempt). Elections: a new primary is usually there within
 * seconds, so look again soon but not in a hot loop. Conflicts: the other writer is done almost
 * at once. Throttling: the server asked for less load, so start slow. Network: the peer may be
 * gone for minutes; back off to the cap.
 */
export const RETRY_POLICY: Readonly<Record<RetryKind, { baseMs: number; capMs: number }>> = {
  network: { baseMs: 500, capMs: 30_000 },
  election: { baseMs: 250, capMs: 5_000 },
  conflict: { baseMs: 20, capMs: 1_000 },
  throttled: { baseMs: 2_000, capMs: 30_000 },
  other: { baseMs: 500, capMs: 30_000 },
};

/** The delay before retry number `attempt` (0-based) of a step that failed with `error`. */
export function retryDelay(attempt: number, error: Pick<ErrorInfo, 'retry'> | undefined, random: () => number = Math.random): number {
  const { baseMs, capMs } = RETRY_POLICY[error?.retry ?? 'other'];
  return backoffDelay(attempt, baseMs, capMs, random);
}
