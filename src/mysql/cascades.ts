import type { Connection } from 'mysql2/promise';
import type { SourceFinding } from './source-checks.js';

/**
 * A foreign key whose ON DELETE / ON UPDATE action changes rows of its (child) table. InnoDB
 * carries these actions out inside the storage engine and MariaDB (and MySQL before 9.x) never
 * writes the changed child rows to the binlog: a mirror of the child keeps the rows a cascade
 * deleted and the values it changed, silently.
 */
export interface CascadingForeignKey {
  constraint: string;
  child: { db: string; table: string };
  parent: { db: string; table: string };
  onDelete: string;
  onUpdate: string;
}

const CHANGING = new Set(['CASCADE', 'SET NULL', 'SET DEFAULT']);

/** Cascading foreign keys whose child table is included (whatever the parent: its deletes cascade all the same). */
export async function cascadingForeignKeys(conn: Connection, includes: (db: string, table: string) => boolean): Promise<CascadingForeignKey[]> {
  const [rows] = await conn.query(
    `SELECT CONSTRAINT_SCHEMA AS db, CONSTRAINT_NAME AS name, TABLE_NAME AS child, UNIQUE_CONSTRAINT_SCHEMA AS parentDb,
            REFERENCED_TABLE_NAME AS parent, DELETE_RULE AS onDelete, UPDATE_RULE AS onUpdate
       FROM information_schema.REFERENTIAL_CONSTRAINTS ORDER BY 1, 3, 2`,
  );
  return (rows as { db: string; name: string; child: string; parentDb: string; parent: string; onDelete: string; onUpdate: string }[])
    .filter((r) => (CHANGING.has(r.onDelete) || CHANGING.has(r.onUpdate)) && includes(r.db, r.child))
    .map((r) => ({ constraint: r.name, child: { db: r.db, table: r.child }, parent: { db: r.parentDb, table: r.parent }, onDelete: r.onDelete, onUpdate: r.onUpdate }));
}

export function describeCascade(fk: CascadingForeignKey): string {
  const actions = [CHANGING.has(fk.onDelete) ? `ON DELETE ${fk.onDelete}` : '', CHANGING.has(fk.onUpdate) ? `ON UPDATE ${fk.onUpdate}` : ''].filter((a) => a !== '').join(' ');
  return `${fk.child.db}.${fk.child.table} (${fk.constraint} → ${fk.parent.db}.${fk.parent.table} ${actions})`;
}

export const CASCADE_WHY = 'the rows a foreign key action deletes or changes are not in the binlog, so their mirror would keep them as they were';
export const CASCADE_FIX = 'make the constraints ON DELETE/ON UPDATE RESTRICT (the application deletes children itself), leave the child tables out of mysql.include, or set mysql.allowForeignKeyCascades and repair with `sdl verify --repair` after parent rows are deleted or re-keyed';

/** `sdl check`: cascading foreign keys on included tables are a problem unless allowed (then a warning). */
export function cascadeFinding(found: CascadingForeignKey[], allowed: boolean): SourceFinding {
  if (found.length === 0) return { check: 'foreign key actions', ok: true, detail: 'no included table is changed by an ON DELETE/ON UPDATE action' };
  const detail = `${found.length} foreign key action${found.length === 1 ? '' : 's'} change included tables without binlog rows: ${found.map(describeCascade).join('; ')}`;
  if (allowed) return { check: 'foreign key actions', ok: true, warning: true, detail: `${detail} (allowed by mysql.allowForeignKeyCascades: those mirrors drift until repaired)`, fix: CASCADE_FIX };
  return { check: 'foreign key actions', ok: false, detail: `${detail}: ${CASCADE_WHY}`, fix: CASCADE_FIX };
}

/** A DDL statement that declares a foreign key action which changes rows (judged from its text). */
export function declaresCascade(statement: string): boolean {
  return /\bREFERENCES\b/i.test(statement) && /\bON\s+(?:DELETE|UPDATE)\s+(?:CASCADE|SET\s+NULL|SET\s+DEFAULT)\b/i.test(statement);
}
