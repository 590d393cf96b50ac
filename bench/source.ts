import ZongJi, { type AnyBinlogEvent } from '@vlasky/zongji';
import type { Connection } from 'mysql2/promise';
import { exactOptions } from '../src/mysql/connection.js';

export interface BinlogEnd {
  file: string;
  pos: number;
  gtid: string;
}

/** Where the source's binlog ends right now. */
export async function binlogEnd(conn: Connection): Promise<BinlogEnd> {
  const [status] = await conn.query('SHOW MASTER STATUS');
  const row = (status as { File: string; Position: number | string }[])[0];
  if (row === undefined) throw new Error('SHOW MASTER STATUS returned nothing: is the binlog on?');
  const [g] = await conn.query('SELECT @@gtid_binlog_pos AS pos');
  return { file: row.File, pos: Number(row.Position), gtid: String((g as { pos: string }[])[0]?.pos) };
}

export interface SourceResult {
  rows: number;
  events: number;
  seconds: number;
}

/**
 * The source ceiling: a bare zongji client with sdl's connection options reading the whole
 * retained binlog from its start and counting row events, until it reaches `end`.
 */
export async function readBinlogCounting(url: string, serverId: number, end: BinlogEnd, timeoutMs = 600_000): Promise<SourceResult> {
  const z = new ZongJi(exactOptions(url));
  let file = '';
  let rows = 0;
  let events = 0;
  const t0 = performance.now();
  try {
    return await new Promise<SourceResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`source read did not reach ${end.file}:${end.pos} in ${timeoutMs} ms (rows ${rows})`)), timeoutMs);
      z.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
      z.on('binlog', (e: AnyBinlogEvent) => {
        events++;
        const name = e.getTypeName();
        if (name === 'Rotate') file = (e as Extract<AnyBinlogEvent, { binlogName: string }>).binlogName;
        else if (name === 'WriteRows' || name === 'UpdateRows' || name === 'DeleteRows') rows += (e as Extract<AnyBinlogEvent, { rows: unknown[] }>).rows.length;
        if (file === end.file && e.nextPosition >= end.pos) {
          clearTimeout(timer);
          resolve({ rows, events, seconds: (performance.now() - t0) / 1000 });
        }
      });
      z.start({ serverId, gtidSet: '', includeEvents: ['rotate', 'mariadbgtid', 'gtid', 'query', 'xid', 'tablemap', 'writerows', 'updaterows', 'deleterows'] });
    });
  } finally {
    try {
      z.stop();
    } catch {
      // stopping before the connection exists throws; nothing to release
    }
  }
}
