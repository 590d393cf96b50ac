import type { Connection } from 'mysql2/promise';

/** A deterministic pseudo-random generator so a failing run can be replayed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const WORKLOAD_SCHEMA = `
CREATE DATABASE IF NOT EXISTS shop;
CREATE TABLE IF NOT EXISTS shop.customers (
  id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, balance DECIMAL(18,4), updated DATETIME(6), tags SET('a','b','c'), doc JSON
) CHARSET utf8mb4;
CREATE TABLE IF NOT EXISTS shop.orders (
  customer_id INT NOT NULL, order_no BIGINT UNSIGNED NOT NULL, total DOUBLE, note TEXT, PRIMARY KEY (customer_id, order_no)
) CHARSET utf8mb4;
CREATE TABLE IF NOT EXISTS shop.audit (msg VARCHAR(200), at TIMESTAMP(3) NULL) CHARSET utf8mb4;
`;

export interface WorkloadStats {
  transactions: number;
  inserts: number;
  updates: number;
  deletes: number;
}

/**
 * A mixed workload on shop.*: multi-row, multi-table transactions of inserts, updates (some
 * changing the primary key) and deletes. Counts row changes by kind for event-log checks.
 */
export class Workload {
  readonly stats: WorkloadStats = { transactions: 0, inserts: 0, updates: 0, deletes: 0 };
  private readonly random: () => number;
  private nextId = 1;
  private readonly live = new Set<number>();

  constructor(private readonly conn: Connection, seed = 1) {
    this.random = rng(seed);
    // Workloads with different seeds can share the tables.
    this.nextId = seed * 1_000_000 + 1;
  }

  private pick(): number | undefined {
    if (this.live.size === 0) return undefined;
    const n = Math.floor(this.random() * this.live.size);
    let i = 0;
    for (const id of this.live) if (i++ === n) return id;
    return undefined;
  }

  /** One committed transaction of 1–5 statements. */
  /** One committed transaction of 1–5 statements; counts change only once it committed. */
  async step(): Promise<void> {
    const statements = 1 + Math.floor(this.random() * 5);
    const before = { ...this.stats };
    const live = new Set(this.live);
    const nextId = this.nextId;
    try {
      await this.conn.query('START TRANSACTION');
      for (let s = 0; s < statements; s++) await this.statement();
      await this.conn.query('COMMIT');
      this.stats.transactions++;
    } catch (err) {
      Object.assign(this.stats, before);
      this.live.clear();
      for (const id of live) this.live.add(id);
      this.nextId = nextId;
      await this.conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  async run(transactions: number): Promise<void> {
    for (let i = 0; i < transactions; i++) await this.step();
  }

  private async statement(): Promise<void> {
    const r = this.random();
    const id = this.pick();
    if (r < 0.45 || id === undefined) {
      const nid = this.nextId++;
      await this.conn.query(
        'INSERT INTO shop.customers VALUES (?, ?, ?, ?, ?, ?)',
        [nid, `customer ${nid} ✓`, (this.random() * 1e6).toFixed(4), `2024-01-01 00:00:00.${String(nid % 1000000).padStart(6, '0')}`, nid % 2 === 0 ? 'a,c' : '', JSON.stringify({ n: nid, nested: { k: [1, 2, nid] } })],
      );
      await this.conn.query('INSERT INTO shop.orders VALUES (?, ?, ?, ?)', [nid, 18446744073709551615n - BigInt(nid), this.random() * 100, 'first order']);
      this.live.add(nid);
      this.stats.inserts += 2;
    } else if (r < 0.75) {
      await this.conn.query('UPDATE shop.customers SET balance = balance + 1.0001, updated = NOW(6), tags = ? WHERE id = ?', ['b', id]);
      this.stats.updates += 1;
    } else if (r < 0.85) {
      // A primary-key change: the mirror must move the document.
      const nid = this.nextId++;
      await this.conn.query('UPDATE shop.customers SET id = ? WHERE id = ?', [nid, id]);
      const [res] = await this.conn.query('UPDATE shop.orders SET customer_id = ? WHERE customer_id = ?', [nid, id]);
      this.live.delete(id);
      this.live.add(nid);
      this.stats.updates += 1 + (res as { affectedRows: number }).affectedRows;
    } else {
      await this.conn.query('DELETE FROM shop.customers WHERE id = ?', [id]);
      const [res] = await this.conn.query('DELETE FROM shop.orders WHERE customer_id = ?', [id]);
      this.live.delete(id);
      this.stats.deletes += 1 + (res as { affectedRows: number }).affectedRows;
    }
    await this.conn.query('INSERT INTO shop.audit VALUES (?, NOW(3))', [`op ${r.toFixed(3)}`]);
    this.stats.inserts += 1;
  }
}

/** Runs the workload in the background until stop(); resolves stop() with the stats. */
export class BackgroundWorkload {
  private running = true;
  private readonly done: Promise<void>;
  /** Transactions that failed because the source was down (retried, so none are lost or doubled). */
  sourceErrors = 0;

  constructor(readonly workload: Workload, pauseMs = 5) {
    this.done = (async () => {
      while (this.running) {
        try {
          await workload.step();
        } catch {
          // The source restarting under us: the transaction rolled back (or never started).
          this.sourceErrors++;
          await new Promise((r) => setTimeout(r, 200));
        }
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
    })();
  }

  async stop(): Promise<WorkloadStats> {
    this.running = false;
    await this.done;
    return this.workload.stats;
  }
}
