import type { Connection } from 'mysql2/promise';
import { SdlError } from '../errors.js';
import type { SourcePosition } from '../pipeline/types.js';
import { ER_TABLE_DEF_CHANGED } from './table-read.js';

/**
 * Opens a consistent read view on `conn` and returns the binlog position it corresponds to
 * exactly: every transaction committed before that position is visible, none after it.
 *
 * MariaDB: `START TRANSACTION WITH CONSISTENT SNAPSHOT` fixes `Binlog_snapshot_file/position`
 * together with the view (the binlog commit lock is held while both are taken), so no lock is
 * needed. `@@gtid_binlog_pos` is NOT part of the view: read after the START it may already
 * include transactions the view does not see (measured in test/integration/snapshot-view.test.ts),
 * so the GTID is derived from the file/position with `BINLOG_GTID_POS`.
 * MySQL has no such status: the shortest exact way is a global read lock held only while the
 * view is opened and the position read.
 */
export async function openSnapshotView(conn: Connection, mariadb: boolean): Promise<SourcePosition> {
  // Same rendering as the verifier: TIMESTAMP values in UTC.
  await conn.query("SET SESSION time_zone = '+00:00'");
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  if (mariadb) {
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const [rows] = await conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'");
    const status = new Map((rows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name.toLowerCase(), r.Value]));
    const file = status.get('binlog_snapshot_file') ?? '';
    const pos = Number(status.get('binlog_snapshot_position') ?? NaN);
    if (file === '' || !Number.isFinite(pos)) {
      throw new SdlError('SNAPSHOT_POSITION', `the source gave no binlog position for the consistent snapshot (Binlog_snapshot_file=${file || 'empty'})`, 'config', 'run the source with the binary log on (log_bin) and InnoDB tables');
    }
    const [g] = await conn.query('SELECT BINLOG_GTID_POS(?, ?) AS gtid', [file, pos]);
    const gtid = (g as { gtid: string | null }[])[0]?.gtid ?? null;
    return gtid === null || gtid === '' ? { file, pos } : { file, pos, gtid };
  }
  await conn.query('FLUSH TABLES WITH READ LOCK');
  try {
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const [rows] = await conn.query('SHOW MASTER STATUS');
    const r = (rows as { File: string; Position: number; Executed_Gtid_Set?: string }[])[0];
    if (r === undefined) throw new SdlError('SNAPSHOT_POSITION', 'SHOW MASTER STATUS returned nothing: the source has no binary log', 'config', 'run the source with the binary log on (log_bin)');
    const gtid = (r.Executed_Gtid_Set ?? '').replace(/\s+/g, '');
    return gtid === '' ? { file: r.File, pos: Number(r.Position) } : { file: r.File, pos: Number(r.Position), gtid };
  } finally {
    await conn.query('UNLOCK TABLES');
  }
}

/**
 * MariaDB: runs `read` under a consistent view of its own, ended (COMMIT) before returning, so
 * no transaction stays open between chunks (a DDL would wait for it, and writes behind the DDL).
 * A DDL between the view and the read fails the read with ER_TABLE_DEF_CHANGED instead of
 * mixing definitions: a new view then reads the table as the DDL left it (up to 10 tries).
 */
export async function inOwnView<T>(conn: Connection, read: (view: SourcePosition) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const view = await openSnapshotView(conn, true);
    try {
      return await read(view);
    } catch (err) {
      if ((err as { errno?: number }).errno !== ER_TABLE_DEF_CHANGED || attempt >= 10) throw err;
    } finally {
      await conn.query('COMMIT');
    }
  }
}
