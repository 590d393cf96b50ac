import type { Connection } from 'mysql2/promise';
import { rng } from '../test/support/workload.js';
import type { LoadStats } from './workload.js';

/** A table of wide rows, in a database of its own so its pipelines stream only it. */
export const WIDE_SCHEMA = `
CREATE DATABASE IF NOT EXISTS benchwide;
CREATE TABLE IF NOT EXISTS benchwide.docs (
  id INT PRIMARY KEY, title VARCHAR(200) NOT NULL, price DECIMAL(12,2), updated DATETIME(6),
  attrs JSON, body JSON, payload BLOB, thumb VARBINARY(512)
) CHARSET utf8mb4;
`;

const PER_TXN = 50;

/**
 * Rows of about 4 KB where decoding weighs more than in the mixed load: a nested JSON document
 * of about 2 KB, a small JSON object, a 1.5 KB BLOB and a 400-byte VARBINARY per row. Each round
 * inserts 50 rows in one transaction, then updates 25 of them (new body and payload) in another.
 * Deterministic for a seed.
 */
export class WideLoad {
  readonly stats: LoadStats = { transactions: 0, inserts: 0, updates: 0, deletes: 0 };
  private readonly random: () => number;
  private nextId = 1;

  constructor(private readonly conn: Connection, seed = 7) {
    this.random = rng(seed);
  }

  async load(rows: number): Promise<void> {
    const target = this.stats.inserts + this.stats.updates + rows;
    while (this.stats.inserts + this.stats.updates < target) await this.round();
  }

  private bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.random() * 256);
    return b;
  }

  private body(id: number, version: number): string {
    const items = Array.from({ length: 12 }, (_, i) => ({
      sku: `SKU-${id}-${i}`,
      qty: 1 + ((id + i) % 7),
      price: Math.round(this.random() * 100_000) / 100,
      tags: ['red', 'blue', 'green'].slice(0, 1 + (i % 3)),
      note: `line ${i} of document ${id}, version ${version} ✓`,
    }));
    return JSON.stringify({ id, version, customer: { name: `customer ${id}`, email: `c${id}@example.com`, vip: id % 5 === 0 }, items });
  }

  private row(id: number): unknown[] {
    return [
      id,
      `document ${id} — wide row`,
      (this.random() * 1e6).toFixed(2),
      `2024-05-${String(1 + (id % 28)).padStart(2, '0')} 10:11:12.${String(id % 1_000_000).padStart(6, '0')}`,
      JSON.stringify({ color: ['red', 'blue'][id % 2], size: id % 40, flags: { a: true, b: null } }),
      this.body(id, 1),
      this.bytes(1536),
      this.bytes(400),
    ];
  }

  private async round(): Promise<void> {
    const first = this.nextId;
    this.nextId += PER_TXN;
    const ids = Array.from({ length: PER_TXN }, (_, i) => first + i);
    await this.conn.query('START TRANSACTION');
    const [ins] = await this.conn.query(`INSERT INTO benchwide.docs VALUES ${ids.map(() => '(?,?,?,?,?,?,?,?)').join(',')}`, ids.flatMap((id) => this.row(id)));
    await this.conn.query('COMMIT');
    this.stats.inserts += (ins as { affectedRows: number }).affectedRows;
    this.stats.transactions++;
    await this.conn.query('START TRANSACTION');
    for (const id of ids.filter((_, i) => i % 2 === 0)) {
      const [upd] = await this.conn.query('UPDATE benchwide.docs SET body = ?, payload = ?, updated = NOW(6) WHERE id = ?', [this.body(id, 2), this.bytes(1536), id]);
      this.stats.updates += (upd as { affectedRows: number }).affectedRows;
    }
    await this.conn.query('COMMIT');
    this.stats.transactions++;
  }
}
