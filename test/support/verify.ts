import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { probeCapabilities } from '../../src/mongo/capabilities.js';
import { verify, type VerifyReport } from '../../src/verify/verify.js';
import type { Stack } from './stack.js';

/** Reads both sides and fails the test with the differences when any mirror differs from MySQL. */
export async function assertMirrorsEqual(stack: Stack, include: string[] = []): Promise<VerifyReport> {
  const client = new MongoClient(stack.mongo.url);
  try {
    const caps = await probeCapabilities(client, client.db('sdl'));
    const report = await verify({ mysqlUrl: stack.mariadb.url, include, mongo: client, databaseMap: {}, caps });
    assert.ok(report.ok, `mirrors differ from MySQL:\n${JSON.stringify(report.tables.filter((t) => t.missing.length + t.extra.length + t.different.length > 0 || t.sourceRows !== t.mirrorDocs), null, 2)}`);
    return report;
  } finally {
    await client.close();
  }
}

/**
 * Event-log ids are unique by construction; this checks each source row change is there exactly
 * once. `reads: false` leaves out the `r` documents of snapshots (an online re-snapshot after a
 * value-changing ALTER writes them while the test's changes stream).
 */
export async function eventCounts(stack: Stack, db: string, table: string, opts: { reads?: boolean } = {}): Promise<Record<string, number>> {
  const client = new MongoClient(stack.mongo.url);
  try {
    const rows = await client.db('sdl').collection('row_changes').aggregate<{ _id: string; n: number }>([
      { $match: opts.reads === false ? { db, table, op: { $ne: 'r' } } : { db, table } },
      { $group: { _id: '$op', n: { $sum: 1 } } },
    ]).toArray();
    return Object.fromEntries(rows.map((r) => [r._id, r.n]));
  } finally {
    await client.close();
  }
}

/**
 * Row changes of source database `db` in the event log of `sdlDb`, by table and op. Snapshot
 * reads (`r`, e.g. of the online re-snapshot a value-changing ALTER starts) are not changes.
 */
export async function eventCountsByTable(stack: Stack, db: string, sdlDb = 'sdl'): Promise<Map<string, Record<string, number>>> {
  const client = new MongoClient(stack.mongo.url);
  try {
    const out = new Map<string, Record<string, number>>();
    // Plain find and client-side counting: FerretDB 1.x lacks parts of $group.
    const docs = client.db(sdlDb).collection('row_changes').find({ db, op: { $ne: 'r' } }, { projection: { table: 1, op: 1 } });
    for await (const d of docs) {
      const c = out.get(String(d['table'])) ?? {};
      c[String(d['op'])] = (c[String(d['op'])] ?? 0) + 1;
      out.set(String(d['table']), c);
    }
    return out;
  } finally {
    await client.close();
  }
}
