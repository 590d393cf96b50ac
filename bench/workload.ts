import type { Connection } from 'mysql2/promise';
import { rng } from '../test/support/workload.js';

/** The bench schema: realistic types, a composite key, a keyless table, a table for the lag probe. */
export const BENCH_SCHEMA = `
CREATE DATABASE IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.customers (
  id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(200), balance DECIMAL(18,4),
  created DATETIME(6), status ENUM('new','active','closed'), tags SET('a','b','c'), doc JSON
) CHARSET utf8mb4;
CREATE TABLE IF NOT EXISTS bench.orders (
  id BIGINT UNSIGNED PRIMARY KEY, customer_id INT NOT NULL, total DOUBLE, qty SMALLINT, note TEXT,
  placed TIMESTAMP(3) NULL, shipped DATE, KEY (customer_id)
) CHARSET utf8mb4;
CREATE TABLE IF NOT EXISTS bench.order_lines (
  order_id BIGINT UNSIGNED NOT NULL, line_no INT NOT NULL, sku CHAR(12), price DECIMAL(10,2), data VARBINARY(64),
  PRIMARY KEY (order_id, line_no)
) CHARSET utf8mb4;
CREATE TABLE IF NOT EXISTS bench.audit (msg VARCHAR(200), at TIMESTAMP(3) NULL) CHARSET utf8mb4;
CREATE TABLE IF NOT EXISTS bench.probe (id INT PRIMARY KEY AUTO_INCREMENT, note VARCHAR(100), n INT) CHARSET utf8mb4;
`;

export interface LoadStats {
  transactions: number;
  inserts: number;
  updates: number;
  deletes: number;
}

export function rowsOf(s: LoadStats): number {
  return s.inserts + s.updates + s.deletes;
}

const BULK = 100;
const SMALL_TXNS = 10;

/**
 * A mixed OLTP-ish workload, loaded fast. One round is 13 transactions, about 690 row changes:
 * a bulk insert (100 customers, 100 orders, 200 order lines: multi-row INSERTs), a bulk update
 * (100 customers + 60 orders), a bulk delete of the oldest 20 customers with their orders and
 * lines, and 10 small transactions (a customer + order insert, an update, a keyless audit row).
 * About 63% inserts, 25% updates, 12% deletes. Deterministic for a seed; continues its ids
 * across calls so it can be loaded in several phases.
 */
export class MixedLoad {
  readonly stats: LoadStats = { transactions: 0, inserts: 0, updates: 0, deletes: 0 };
  private readonly random: () => number;
  private nextId = 1;
  private floor = 1;

  constructor(private readonly conn: Connection, seed = 42) {
    this.random = rng(seed);
  }

  /** Loads rounds until at least `rows` more row changes are committed. */
  async load(rows: number, progress?: (done: number) => void): Promise<void> {
    const target = rowsOf(this.stats) + rows;
    let last = 0;
    while (rowsOf(this.stats) < target) {
      await this.round();
      if (progress !== undefined && rowsOf(this.stats) - last >= 50_000) {
        last = rowsOf(this.stats);
        progress(last);
      }
    }
  }

  private async txn(fn: () => Promise<void>): Promise<void> {
    await this.conn.query('START TRANSACTION');
    try {
      await fn();
      await this.conn.query('COMMIT');
      this.stats.transactions++;
    } catch (err) {
      await this.conn.query('ROLLBACK');
      throw err;
    }
  }

  private async exec(sql: string, values?: unknown[]): Promise<number> {
    const [res] = await this.conn.query(sql, values);
    return (res as { affectedRows: number }).affectedRows;
  }

  private customer(id: number): unknown[] {
    const r = this.random();
    return [
      id,
      `customer ${id} ✓`,
      `c${id}@example.com`,
      (r * 1e6).toFixed(4),
      `2024-01-${String(1 + (id % 28)).padStart(2, '0')} 12:34:56.${String(id % 1_000_000).padStart(6, '0')}`,
      ['new', 'active', 'closed'][id % 3],
      id % 2 === 0 ? 'a,c' : 'b',
      JSON.stringify({ n: id, score: r, nested: { k: [1, 2, id], s: 'x'.repeat(id % 20) } }),
    ];
  }

  private order(id: number): unknown[] {
    return [id, id, Math.round(this.random() * 1e6) / 100, 1 + (id % 9), `order note ${id}`, '2024-03-04 05:06:07.890', id % 5 === 0 ? null : '2024-03-05'];
  }

  private async round(): Promise<void> {
    // Bulk insert.
    const first = this.nextId;
    this.nextId += BULK;
    const ids = Array.from({ length: BULK }, (_, i) => first + i);
    await this.txn(async () => {
      this.stats.inserts += await this.exec(`INSERT INTO bench.customers VALUES ${ids.map(() => '(?,?,?,?,?,?,?,?)').join(',')}`, ids.flatMap((id) => this.customer(id)));
      this.stats.inserts += await this.exec(`INSERT INTO bench.orders VALUES ${ids.map(() => '(?,?,?,?,?,?,?)').join(',')}`, ids.flatMap((id) => this.order(id)));
      const lines = ids.flatMap((id) => [1, 2].map((n) => [id, n, `SKU-${String(id % 100_000).padStart(8, '0')}`, (this.random() * 1000).toFixed(2), Buffer.alloc(32, id & 0xff)]));
      this.stats.inserts += await this.exec(`INSERT INTO bench.order_lines VALUES ${lines.map(() => '(?,?,?,?,?)').join(',')}`, lines.flat());
    });
    // Bulk update of a random live range.
    const span = this.nextId - this.floor;
    const from = this.floor + Math.floor(this.random() * Math.max(1, span - BULK));
    await this.txn(async () => {
      this.stats.updates += await this.exec("UPDATE bench.customers SET balance = balance + 1.0001, status = 'active', created = NOW(6) WHERE id BETWEEN ? AND ?", [from, from + BULK - 1]);
      this.stats.updates += await this.exec('UPDATE bench.orders SET total = total + 1, qty = qty + 1 WHERE id BETWEEN ? AND ?', [from, from + 59]);
    });
    // Bulk delete of the oldest customers with their orders and lines.
    const dFrom = this.floor;
    this.floor += 20;
    await this.txn(async () => {
      this.stats.deletes += await this.exec('DELETE FROM bench.order_lines WHERE order_id BETWEEN ? AND ?', [dFrom, dFrom + 19]);
      this.stats.deletes += await this.exec('DELETE FROM bench.orders WHERE id BETWEEN ? AND ?', [dFrom, dFrom + 19]);
      this.stats.deletes += await this.exec('DELETE FROM bench.customers WHERE id BETWEEN ? AND ?', [dFrom, dFrom + 19]);
    });
    // Small transactions.
    for (let i = 0; i < SMALL_TXNS; i++) {
      const id = this.nextId++;
      const upd = this.floor + Math.floor(this.random() * (this.nextId - 1 - this.floor));
      await this.txn(async () => {
        this.stats.inserts += await this.exec('INSERT INTO bench.customers VALUES (?,?,?,?,?,?,?,?)', this.customer(id));
        this.stats.inserts += await this.exec('INSERT INTO bench.orders VALUES (?,?,?,?,?,?,?)', this.order(id));
        this.stats.updates += await this.exec("UPDATE bench.customers SET balance = balance - 0.5, tags = 'b,c' WHERE id = ?", [upd]);
        this.stats.inserts += await this.exec('INSERT INTO bench.audit VALUES (?, NOW(3))', [`small txn for ${id}`]);
      });
    }
  }
}
