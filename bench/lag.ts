import type { MongoClient } from 'mongodb';
import type { Connection } from 'mysql2/promise';

export interface LagResult {
  transactions: number;
  rows: number;
  seconds: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  unseen: number;
}

/** Sequence number of a MariaDB GTID in domain 0 (`0-1-123` → 123), from a position list. */
function seqOf(pos: string | null | undefined): number {
  if (pos === null || pos === undefined) return -1;
  for (const g of pos.split(',')) {
    const [domain, , seq] = g.trim().split('-');
    if (domain === '0' && seq !== undefined) return Number(seq);
  }
  return -1;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/**
 * End-to-end lag at a fixed rate: `rowsPerSec` row changes per second in transactions of
 * 5 (2 inserts, 1 update, 2 deletes on bench.probe, which so keeps its size) for `seconds`. Each transaction's commit
 * time is the client's clock when COMMIT returned, its GTID from @@last_gtid; it counts as
 * arrived when the pipeline's checkpoint (written after its rows are applied) reaches that GTID.
 */
export async function measureLag(conn: Connection, client: MongoClient, sdlDb: string, pipeline: string, rowsPerSec = 500, seconds = 30, pollMs = 5): Promise<LagResult> {
  const perTxn = 5;
  const txnPerSec = rowsPerSec / perTxn;
  const total = Math.round(txnPerSec * seconds);
  const commits: { seq: number; at: number }[] = [];
  const lags: number[] = [];
  let next = 0;
  let writing = true;
  const offsets = client.db(sdlDb).collection<{ _id: string; gtid: string | null }>('offsets');

  const poll = async (): Promise<void> => {
    while (writing || next < commits.length) {
      const cp = await offsets.findOne({ _id: pipeline });
      const now = performance.now();
      const seq = seqOf(cp?.gtid);
      while (next < commits.length && (commits[next]?.seq ?? Infinity) <= seq) {
        lags.push(now - (commits[next]?.at ?? now));
        next++;
      }
      if (!writing && performance.now() - lastCommitAt > 30_000) break;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };

  await conn.query(`INSERT INTO bench.probe (note, n) VALUES ${Array.from({ length: 20 }, () => '("seed", 0)').join(',')}`);
  let lastCommitAt = performance.now();
  const poller = poll();
  const t0 = performance.now();
  let rows = 0;
  try {
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / txnPerSec;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const [res] = await conn.query(
        'START TRANSACTION; INSERT INTO bench.probe (note, n) VALUES (?, ?), (?, ?); UPDATE bench.probe SET n = n + 1 ORDER BY id DESC LIMIT 1; DELETE FROM bench.probe ORDER BY id LIMIT 2; COMMIT; SELECT @@last_gtid AS g',
        [`lag ${i}`, i, `lag ${i}`, i],
      );
      lastCommitAt = performance.now();
      const results = res as unknown[];
      const g = (results[results.length - 1] as { g: string }[])[0]?.g;
      commits.push({ seq: seqOf(g), at: lastCommitAt });
      rows += perTxn;
    }
  } finally {
    writing = false;
  }
  const seconds_ = (performance.now() - t0) / 1000;
  await poller;
  const sorted = [...lags].sort((a, b) => a - b);
  return {
    transactions: commits.length,
    rows,
    seconds: seconds_,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? NaN,
    unseen: commits.length - lags.length,
  };
}
