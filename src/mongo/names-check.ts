import { SdlError } from '../errors.js';
import { mirrorNamespace, type DatabaseMap } from './layout.js';

/**
 * Start-up check of the names mirrors will use (`names.ts` maps each one injectively, but
 * MongoDB also refuses two databases whose names differ only by case, and `databaseMap` can
 * send two source databases to one target). A conflict here would otherwise surface as a
 * refused write on some later row; stopping before streaming names both sides at once.
 */
export function checkMirrorNames(
  tables: ReadonlyArray<{ db: string; table: string }>,
  opts: { databaseMap: DatabaseMap; sdlDatabase: string; existingDatabases: readonly string[] },
): void {
  const conflicts: string[] = [];
  // Target database → the source databases (or sdl's own) that use it.
  const users = new Map<string, Set<string>>();
  const use = (target: string, who: string): void => {
    const set = users.get(target) ?? new Set<string>();
    set.add(who);
    users.set(target, set);
  };
  use(opts.sdlDatabase, `sdl's own database \`${opts.sdlDatabase}\``);
  const namespaces = new Map<string, string>();
  for (const { db, table } of tables) {
    const ns = mirrorNamespace(db, table, opts.databaseMap);
    use(ns.db, `source database \`${db}\``);
    const id = `${ns.db}\u0000${ns.collection}`;
    const first = namespaces.get(id);
    if (first !== undefined && first !== `${db}.${table}`) conflicts.push(`source tables \`${first}\` and \`${db}.${table}\` both map to ${ns.db}.${ns.collection}`);
    namespaces.set(id, `${db}.${table}`);
  }
  const byFold = new Map<string, string>();
  for (const target of [...users.keys(), ...opts.existingDatabases]) {
    const fold = target.toLowerCase();
    const other = byFold.get(fold);
    if (other !== undefined && other !== target) {
      const who = (t: string): string => [...(users.get(t) ?? [`the existing MongoDB database \`${t}\``])].join(', ');
      conflicts.push(`MongoDB databases \`${other}\` (${who(other)}) and \`${target}\` (${who(target)}) differ only by case, which MongoDB refuses`);
    }
    if (other === undefined) byFold.set(fold, target);
  }
  if (conflicts.length > 0) {
    throw new SdlError(
      'NAME_COLLISION',
      `mirror names collide: ${conflicts.join('; ')}`,
      'config',
      'map one of them to another MongoDB database with `mongo.databaseMap` (source database → target database), or leave one out of `mysql.include`',
    );
  }
}
