import assert from 'node:assert/strict';
import type { Connection } from 'mysql2/promise';

/** Rotates the binlog and purges every older file, as a production server's retention does. */
export async function purgeBinlogs(conn: Connection): Promise<void> {
  await conn.query('FLUSH BINARY LOGS');
  // MariaDB keeps a file until its binlog checkpoint moves past it: purge until it is gone.
  for (let tries = 0; ; tries++) {
    const [logs] = await conn.query('SHOW BINARY LOGS');
    const names = (logs as { Log_name: string }[]).map((l) => l.Log_name);
    if (names.length === 1) return;
    assert.ok(tries < 50, `could not purge ${names.join(', ')}`);
    await conn.query(`PURGE BINARY LOGS TO '${names.at(-1)}'`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
