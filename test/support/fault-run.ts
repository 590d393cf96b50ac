import assert from 'node:assert/strict';
import type { Connection } from 'mysql2/promise';
import { SdlProcess, waitForCatchUp, type SdlOptions } from './sdl-process.js';
import type { Stack } from './stack.js';
import { assertMirrorsEqual, eventCounts } from './verify.js';
import { WORKLOAD_SCHEMA, Workload, type WorkloadStats } from './workload.js';

/** A shop workload on its own connection, with the schema created. */
export async function shopWorkload(stack: Stack, seed: number): Promise<{ conn: Connection; workload: Workload }> {
  const conn = await stack.mariadb.connect();
  await conn.query(WORKLOAD_SCHEMA);
  return { conn, workload: new Workload(conn, seed) };
}

/**
 * The end of every fault test: sdl catches up, then a verifier reads MySQL and MongoDB and
 * finds every mirror equal and exactly one event per source row change (none missing, none
 * doubled).
 */
export async function assertLossless(stack: Stack, stats: WorkloadStats, opts: SdlOptions & { pipeline: string }): Promise<void> {
  const sdl = new SdlProcess(stack.scratch, stack, { ...opts, name: `${opts.pipeline}-final` });
  sdl.start();
  try {
    await waitForCatchUp(stack, opts.pipeline, 180_000, sdl);
    await assertMirrorsEqual(stack, ['shop']);
  } finally {
    assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
  }
  const counted = await shopEventCounts(stack);
  assert.deepEqual(counted, { insert: stats.inserts, update: stats.updates, delete: stats.deletes }, 'event log has each source row change exactly once');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Row changes in the event log for the shop workload's tables, by kind. */
export async function shopEventCounts(stack: Stack): Promise<{ insert: number; update: number; delete: number }> {
  const counted = { insert: 0, update: 0, delete: 0 };
  for (const table of ['customers', 'orders', 'audit']) {
    const c = await eventCounts(stack, 'shop', table);
    counted.insert += c['insert'] ?? 0;
    counted.update += c['update'] ?? 0;
    counted.delete += c['delete'] ?? 0;
  }
  return counted;
}
