import fc from 'fast-check';
import { ALLOWED_KEY_TYPES, ALLOWED_TYPES, allowedType, type AllowedType } from './allowed.js';
import { ident } from './sql.js';

/** A generated table: key columns, other columns, engine. `sdl_v` (a row version) is always there. */
export interface ColumnSpec {
  name: string;
  typeId: string;
}

export interface TableSpec {
  keys: ColumnSpec[];
  cols: ColumnSpec[];
  engine: 'InnoDB' | 'MyISAM' | 'Aria';
}

/** The arbitrary: 1–3 key parts of keyable types, 0–5 other columns of any type. */
export function tableSpecArb(): fc.Arbitrary<TableSpec> {
  const keyType = fc.constantFrom(...ALLOWED_KEY_TYPES.map((t) => t.type.id));
  const anyType = fc.constantFrom(...ALLOWED_TYPES.filter((t) => t.values.length > 0).map((t) => t.type.id));
  return fc
    .record({
      keys: fc.array(keyType, { minLength: 1, maxLength: 3 }),
      cols: fc.array(anyType, { maxLength: 5 }),
      engine: fc.constantFrom<TableSpec['engine']>('InnoDB', 'InnoDB', 'InnoDB', 'MyISAM', 'Aria'),
    })
    .map(({ keys, cols, engine }) => ({
      keys: keys.map((typeId, i) => ({ name: `k${i}_${typeId}`, typeId })),
      cols: cols.map((typeId, i) => ({ name: `c${i}_${typeId}`, typeId })),
      engine,
    }));
}

export function createTableSql(name: string, spec: TableSpec, verb = 'CREATE TABLE'): string {
  const keyDefs = spec.keys.map((k) => `${ident(k.name)} ${allowedType(k.typeId).type.sql} NOT NULL`);
  const colDefs = spec.cols.map((c) => `${ident(c.name)} ${allowedType(c.typeId).type.sql} NULL`);
  const pk = `PRIMARY KEY (${spec.keys.map((k) => ident(k.name)).join(', ')})`;
  return `${verb} ${ident(name)} (${[...keyDefs, '`sdl_v` BIGINT NOT NULL DEFAULT 0', ...colDefs, pk].join(', ')}) ENGINE=${spec.engine}`;
}

export function typeOf(c: ColumnSpec): AllowedType {
  return allowedType(c.typeId);
}
