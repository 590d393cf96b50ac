import type { Connection } from 'mysql2/promise';
import { SdlError } from '../errors.js';

export interface SourceServer {
  version: string;
  mariadb: boolean;
  /** Oldest binlog file still on the server (start point for a non-GTID full read). */
  firstBinlog: string;
  /** lower_case_table_names=1: the server logs table names in lower case but keeps DDL text as typed. */
  lowerCaseNames: boolean;
}

/**
 * What the source must be for sdl to decode every row exactly; anything missing is a
 * prerequisite error (exit 2) naming the setting to change.
 */
export async function preflight(conn: Connection): Promise<SourceServer> {
  const [rows] = await conn.query(
    'SELECT VERSION() AS version, @@log_bin AS logBin, @@binlog_format AS format, @@binlog_row_image AS image, @@binlog_row_metadata AS metadata, @@lower_case_table_names AS lctn',
  );
  const r = (rows as Record<string, unknown>[])[0] ?? {};
  const version = String(r['version']);
  const problems: string[] = [];
  if (String(r['logBin']) !== '1') problems.push('log_bin is OFF (start the server with --log-bin)');
  if (r['format'] !== 'ROW') problems.push(`binlog_format is ${String(r['format'])}, needs ROW (SET GLOBAL binlog_format=ROW and binlog_format=ROW in the server config; sessions already open keep theirs until they reconnect)`);
  if (r['image'] !== 'FULL') problems.push(`binlog_row_image is ${String(r['image'])}, needs FULL (SET GLOBAL binlog_row_image=FULL and in the server config)`);
  if (r['metadata'] !== 'FULL') problems.push(`binlog_row_metadata is ${String(r['metadata'])}, needs FULL (SET GLOBAL binlog_row_metadata=FULL)`);
  if (problems.length > 0) {
    throw new SdlError('SOURCE_PREREQUISITE', `source server: ${problems.join('; ')}`, 'config');
  }
  const [logs] = await conn.query('SHOW BINARY LOGS');
  const first = (logs as { Log_name: string }[])[0]?.Log_name ?? '';
  return { version, mariadb: /mariadb/i.test(version), firstBinlog: first, lowerCaseNames: String(r['lctn']) === '1' };
}
