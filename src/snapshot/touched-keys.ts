import { keyIdentity } from '../mongo/key-identity.js';
import type { DecodedChange } from '../pipeline/types.js';

/**
 * The keys that changes applied to the mirrors touched, with the newest seq of each, for the
 * tables an online snapshot is copying (the window between a chunk's view and its write, as
 * DBLog's watermarks delimit it). The committer notes every batch it writes, under the mirror
 * lock. A table is watched before its first view opens, so every change after any of its views
 * (committed at the source after the view, so applied after it) is seen: changes applied before
 * the watch began sort before every view's position. An update that moves a row also touches
 * the key it left.
 */
export class TouchedKeys {
  private readonly tables = new Map<string, Map<string, string>>();

  watch(table: string): void {
    if (!this.tables.has(table)) this.tables.set(table, new Map());
  }

  unwatch(table: string): void {
    this.tables.delete(table);
  }

  note(changes: readonly DecodedChange[]): void {
    if (this.tables.size === 0) return;
    for (const c of changes) {
      const keys = this.tables.get(`${c.db}.${c.table}`);
      if (keys === undefined || c.key === null || c.key === undefined) continue;
      bump(keys, keyIdentity(c.key), c.seq);
      if (c.oldKey !== undefined && c.oldKey !== null) bump(keys, keyIdentity(c.oldKey), c.seq);
    }
  }

  /** Identities of the table's keys changed after `seq`. */
  after(table: string, seq: string): Set<string> {
    const out = new Set<string>();
    for (const [id, s] of this.tables.get(table) ?? []) if (s > seq) out.add(id);
    return out;
  }

  /** Forgets what no later view can need: chunk views only move forward. */
  prune(table: string, seq: string): void {
    const keys = this.tables.get(table);
    if (keys === undefined) return;
    for (const [id, s] of keys) if (s <= seq) keys.delete(id);
  }
}

function bump(keys: Map<string, string>, id: string, seq: string): void {
  const was = keys.get(id);
  if (was === undefined || seq > was) keys.set(id, seq);
}
