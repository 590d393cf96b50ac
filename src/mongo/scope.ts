import type { Batch } from '../pipeline/types.js';

/**
 * Several pipelines may share one sdl database, and two sources can log the same GTIDs (a fresh
 * server is always `0-1-…`). Everything keyed by a change or batch id (event log, staging, dead
 * letters) is therefore keyed by `<pipeline>/<id>`. Idempotent: a batch read back from staging
 * is scoped already.
 */
export function scopeBatch(batch: Batch, pipeline: string): Batch {
  const prefix = `${pipeline}/`;
  if (batch.id.startsWith(prefix)) return batch;
  return {
    ...batch,
    id: prefix + batch.id,
    ...(batch.slice !== undefined ? { slice: { ...batch.slice, group: prefix + batch.slice.group } } : {}),
    changes: batch.changes.map((c) => (c.id.startsWith(prefix) ? c : { ...c, id: prefix + c.id })),
  };
}
