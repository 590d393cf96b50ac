import type { Connection } from 'mysql2/promise';
import { SdlError } from '../errors.js';
import type { SourcePosition } from '../pipeline/types.js';

/**
 * Refuses to resume when the binlog the checkpoint needs is gone. MariaDB does not always say
 * so itself (a GTID older than the oldest retained file can stream from that file and silently
 * skip what was purged), so the oldest file's GTID list is compared with the checkpoint here.
 */
export async function assertResumable(conn: Connection, start: SourcePosition, mariadb: boolean): Promise<void> {
  const [logs] = await conn.query('SHOW BINARY LOGS');
  const files = (logs as { Log_name: string }[]).map((l) => l.Log_name);
  const oldest = files[0];
  if (oldest === undefined) throw purged(start, 'the source has no binary logs');
  if (start.gtid === undefined || !mariadb) {
    if (start.gtid === undefined && !files.includes(start.file)) throw purged(start, `binlog ${start.file} is no longer on the source (oldest: ${oldest})`);
    return;
  }
  const [events] = await conn.query(`SHOW BINLOG EVENTS IN ${conn.escape(oldest)} LIMIT 5`);
  const list = (events as { Event_type: string; Info: string }[]).find((e) => e.Event_type === 'Gtid_list');
  if (list === undefined) return;
  const retained = parseGtids(list.Info.replace(/^\[|\]$/g, ''));
  const wanted = parseGtids(start.gtid);
  for (const [domain, seq] of retained) {
    const have = wanted.get(domain) ?? 0n;
    if (have < seq) {
      throw purged(start, `the oldest retained binlog ${oldest} starts after GTID ${domain}-…-${seq}, but the checkpoint is at ${start.gtid}: transactions up to ${domain}-…-${seq} were purged`);
    }
  }
}

/** domain → highest sequence number in a MariaDB GTID list (`0-1-42,1-2-7`). */
function parseGtids(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(part);
    if (m?.[1] === undefined || m[3] === undefined) continue;
    const seq = BigInt(m[3]);
    if ((out.get(m[1]) ?? -1n) < seq) out.set(m[1], seq);
  }
  return out;
}

/** The two ways back from a purged binlog; `sdl run --resnapshot` is never automatic. */
export const RESNAPSHOT_HINT = 'restore the purged binlogs on the source, or re-snapshot: start once with `sdl run --resnapshot` (drops this pipeline\'s checkpoint, copies every included table again under a consistent view, then streams from there)';

function purged(start: SourcePosition, detail: string): SdlError {
  return new SdlError(
    'BINLOG_PURGED',
    `the source no longer has the binlog needed to resume from ${start.gtid ?? `${start.file}:${start.pos}`}: ${detail}`,
    'permanent',
    RESNAPSHOT_HINT,
  );
}
