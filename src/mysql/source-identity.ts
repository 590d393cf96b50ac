import type { Connection } from 'mysql2/promise';
import type { SourcePosition } from '../pipeline/types.js';

/** Which server wrote a binlog: its server id and binlog base name. */
export async function sourceIdentity(conn: Connection): Promise<string> {
  const [rows] = await conn.query('SELECT @@server_id AS id, @@log_bin_basename AS base');
  const r = (rows as { id: unknown; base: unknown }[])[0];
  return `${String(r?.id)}/${String(r?.base)}`;
}

/**
 * The epoch positions of this stream carry. A checkpoint written by another server (a failover
 * to a replica, which resumes by GTID but whose files and offsets are its own) or by a renamed
 * log-bin starts a new epoch, so every position and row change from here on sorts after
 * everything written before, whatever the new files are called.
 */
export function streamEpoch(start: SourcePosition | undefined, source: string): number {
  const epoch = start?.epoch ?? 0;
  return start?.source !== undefined && start.source !== source ? epoch + 1 : epoch;
}
