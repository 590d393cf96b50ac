/**
 * `SDL_INCLUDE` / `include`: a list of `db` or `db.table`. Empty means everything except the
 * server's own schemas.
 */
export class IncludeFilter {
  private readonly dbs = new Set<string>();
  private readonly tables = new Set<string>();

  constructor(readonly entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim();
      if (entry === '') continue;
      const dot = entry.indexOf('.');
      if (dot < 0) this.dbs.add(entry);
      else this.tables.add(entry);
    }
  }

  get all(): boolean {
    return this.dbs.size === 0 && this.tables.size === 0;
  }

  includesDb(db: string): boolean {
    if (SYSTEM_DBS.has(db)) return false;
    if (this.all || this.dbs.has(db)) return true;
    for (const t of this.tables) if (t.startsWith(`${db}.`)) return true;
    return false;
  }

  includes(db: string, table: string): boolean {
    if (SYSTEM_DBS.has(db)) return false;
    return this.all || this.dbs.has(db) || this.tables.has(`${db}.${table}`);
  }
}

const SYSTEM_DBS = new Set(['mysql', 'information_schema', 'performance_schema', 'sys']);
