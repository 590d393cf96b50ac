import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import { writeCheckpoint } from '../../src/mongo/offsets.js';
import type { Stack } from './stack.js';

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

/**
 * Gives a new pipeline a checkpoint at the start of the retained binlog, so `sdl run` streams
 * all of it instead of taking the initial snapshot: for tests about streaming whose rows were
 * written before sdl started and whose event counts expect every one as a change (what a new
 * pipeline did before the snapshot existed). Nothing may have been purged.
 */
export async function streamWholeBinlog(stack: Pick<Stack, 'mariadb' | 'mongo'>, pipeline: string, sdlDatabase = 'sdl'): Promise<void> {
  const conn = await stack.mariadb.connect();
  const client = new MongoClient(stack.mongo.url);
  try {
    const [logs] = await conn.query('SHOW BINARY LOGS');
    const first = (logs as { Log_name: string }[])[0]?.Log_name;
    assert.ok(first !== undefined, 'the source has a binary log');
    const written = await writeCheckpoint(client.db(sdlDatabase), pipeline, { file: first, pos: 4, gtid: '' });
    assert.ok(written.written, `pipeline ${pipeline} has no newer checkpoint`);
  } finally {
    await conn.end();
    await client.close();
  }
}

/** Gives a new pipeline a checkpoint at the source's current binlog position: it streams what is written from now on. */
export async function streamFromHere(stack: Pick<Stack, 'mariadb' | 'mongo'>, pipeline: string, sdlDatabase = 'sdl'): Promise<void> {
  const conn = await stack.mariadb.connect();
  const client = new MongoClient(stack.mongo.url);
  try {
    const [rows] = await conn.query('SHOW MASTER STATUS');
    const [g] = await conn.query('SELECT @@gtid_binlog_pos AS gtid');
    const at = (rows as { File: string; Position: number }[])[0];
    assert.ok(at !== undefined, 'the source has a binary log');
    const written = await writeCheckpoint(client.db(sdlDatabase), pipeline, { file: at.File, pos: Number(at.Position), gtid: String((g as { gtid: string }[])[0]?.gtid ?? '') });
    assert.ok(written.written, `pipeline ${pipeline} has no newer checkpoint`);
  } finally {
    await conn.end();
    await client.close();
  }
}
