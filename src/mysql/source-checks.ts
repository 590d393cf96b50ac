import type { Connection } from 'mysql2/promise';

/** One finding of `sdl check` about the source, with what to do about it. */
export interface SourceFinding {
  check: string;
  ok: boolean;
  /** A warning does not fail `sdl check`; a problem (ok false, warning false) does. */
  warning?: boolean;
  detail: string;
  fix?: string;
}

/** Binlog retention below this leaves too little time to notice and repair a stopped pipeline. */
export const MIN_RETENTION_DAYS = 14;

/**
 * What sdl needs of its MySQL user: REPLICATION SLAVE (the binlog stream), REPLICATION CLIENT
 * (MariaDB: BINLOG MONITOR; SHOW BINARY LOGS, positions) and SELECT (snapshots, the verifier,
 * information_schema). Read from SHOW GRANTS, so nothing is tried that would fail halfway.
 */
export async function privilegeFinding(conn: Connection): Promise<SourceFinding> {
  const [rows] = await conn.query('SHOW GRANTS FOR CURRENT_USER()');
  const grants = (rows as Record<string, string>[]).map((r) => Object.values(r)[0] ?? '').filter((g) => /\bON \*\.\*/i.test(g)).join('\n').toUpperCase();
  const all = /GRANT ALL PRIVILEGES ON \*\.\*/.test(grants);
  const has = (p: RegExp): boolean => all || p.test(grants);
  const missing: string[] = [];
  if (!has(/REPLICATION SLAVE|REPLICATION REPLICA/)) missing.push('REPLICATION SLAVE');
  if (!has(/REPLICATION CLIENT|BINLOG MONITOR/)) missing.push('REPLICATION CLIENT');
  if (!has(/\bSELECT\b/)) missing.push('SELECT');
  if (missing.length === 0) return { check: 'privileges', ok: true, detail: 'REPLICATION SLAVE, REPLICATION CLIENT and SELECT on *.*' };
  return {
    check: 'privileges',
    ok: false,
    detail: `the user lacks ${missing.join(', ')} on *.*`,
    fix: `GRANT ${missing.join(', ')} ON *.* TO <sdl user>  (sdl needs REPLICATION SLAVE, REPLICATION CLIENT and SELECT, nothing more)`,
  };
}

/** Binlog retention: how long a stopped pipeline can stay stopped before it must re-snapshot. */
export async function retentionFinding(conn: Connection): Promise<SourceFinding> {
  const [rows] = await conn.query('SELECT @@expire_logs_days AS days');
  let days = Number((rows as { days: unknown }[])[0]?.days ?? 0);
  // MySQL 8 and MariaDB ≥ 10.6 also (or only) have the seconds form.
  const seconds = await conn.query('SELECT @@binlog_expire_logs_seconds AS s').then(([r]) => Number((r as { s: unknown }[])[0]?.s ?? 0), () => 0);
  if (seconds > 0) days = seconds / 86_400;
  if (days === 0) return { check: 'binlog retention', ok: true, detail: 'binlogs are never purged automatically' };
  const detail = `binlogs are purged after ${Number(days.toFixed(2))} days`;
  if (days >= MIN_RETENTION_DAYS) return { check: 'binlog retention', ok: true, detail };
  return {
    check: 'binlog retention',
    ok: true,
    warning: true,
    detail: `${detail}: a pipeline stopped for longer must re-snapshot`,
    fix: `SET GLOBAL binlog_expire_logs_seconds=${MIN_RETENTION_DAYS * 86_400} (and in the server config); keep at least ${MIN_RETENTION_DAYS} days`,
  };
}

/** Another replica already connected with sdl's server id would be cut off by the server (and cut sdl off). */
export async function serverIdFinding(conn: Connection, serverId: number): Promise<SourceFinding> {
  const hosts = await conn.query('SHOW SLAVE HOSTS').then(([r]) => r as { Server_id: unknown; Host?: string }[], () => undefined);
  if (hosts === undefined) return { check: 'server id', ok: true, warning: true, detail: `cannot list replicas (SHOW SLAVE HOSTS needs REPLICATION MASTER ADMIN): server id ${serverId} not checked` };
  const taken = hosts.find((h) => Number(h.Server_id) === serverId);
  if (taken === undefined) return { check: 'server id', ok: true, detail: `server id ${serverId} is not used by a connected replica` };
  return { check: 'server id', ok: false, detail: `server id ${serverId} is already used by a connected replica (${taken.Host ?? '?'})`, fix: 'set mysql.serverId (SDL_SERVER_ID) to an id no replica of this source uses' };
}
