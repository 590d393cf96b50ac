import fc from 'fast-check';
import { ALLOWED_KEY_TYPES, ALLOWED_TYPES, allowedType, type AllowedType } from './allowed.js';
import { ident } from './sql.js';
import { enabled } from './switches.js';

/** A generated table: key columns, other columns, engine. `sdl_v` (a row version) is always there. */
export interface ColumnSpec {
  name: string;
  typeId: string;
  /** Added `NOT NULL DEFAULT …`: the model never writes NULL to it. */
  notNull?: boolean;
}

/**
 * Partitioning on key part `key` (an integer column, so the model can place every row; a key
 * part, since the partitioning column must be in every unique key). RANGE: `bounds` are the
 * exclusive upper bounds of all partitions but the last, which is `MAXVALUE`; `names` has one
 * more entry than `bounds`. HASH: `names.length` partitions.
 */
export type PartitionSpec =
  | { by: 'range'; key: number; bounds: string[]; names: string[] }
  | { by: 'hash'; key: number; names: string[] };

export interface TableSpec {
  keys: ColumnSpec[];
  cols: ColumnSpec[];
  engine: 'InnoDB' | 'MyISAM' | 'Aria';
  partition?: PartitionSpec;
}

/** Integer key types whose every key value a partition function takes as is (BIGINT UNSIGNED would wrap). */
const PARTITIONABLE = ['tinyint', 'tinyintu', 'smallint', 'smallintu', 'mediumint', 'mediumintu', 'int', 'intu'];

/** MariaDB: "The storage engine for the table doesn't support GEOMETRY" for a partitioned table. */
export const partitionColumnOk = (typeId: string): boolean => typeId !== 'point';

/**
 * About one InnoDB table in three is partitioned, on its first integer key part; a key without
 * one gets its last part's type replaced by one. Not a key with an ENUM or SET part: sdl refuses
 * an online copy of such a table, and partition maintenance needs one.
 */
function partitioned(keys: ColumnSpec[], cols: string[], engine: TableSpec['engine'], p: { on: number; type: number; hash: boolean; cuts: number[] }): { keys: ColumnSpec[]; partition?: PartitionSpec } {
  if (!enabled('partitionDdl') || engine !== 'InnoDB' || p.on % 3 !== 0 || keys.some((k) => k.typeId === 'enum' || k.typeId === 'set')) return { keys };
  if (cols.some((c) => !partitionColumnOk(c))) return { keys };
  let key = keys.findIndex((k) => PARTITIONABLE.includes(k.typeId));
  if (key < 0) {
    key = keys.length - 1;
    const typeId = PARTITIONABLE[p.type % PARTITIONABLE.length] ?? 'int';
    keys = keys.map((k, i) => (i === key ? { name: `k${i}_${typeId}`, typeId } : k));
  }
  const k = keys[key];
  if (k === undefined) return { keys };
  if (p.hash) return { keys, partition: { by: 'hash', key, names: Array.from({ length: 2 + (p.on % 4) }, (_, i) => `p${i}`) } };
  const order = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
  const values = [...new Set(allowedType(k.typeId).keys.map((v) => BigInt(v)))].sort(order);
  const bounds = [...new Set(p.cuts.map((c) => values[c % values.length] ?? 0n))].sort(order);
  return { keys, partition: { by: 'range', key, bounds: bounds.map(String), names: [...bounds, 0].map((_, i) => `p${i}`) } };
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
      part: fc.record({ on: fc.nat(11), type: fc.nat(7), hash: fc.boolean(), cuts: fc.array(fc.nat(20), { minLength: 1, maxLength: 3 }) }),
    })
    .map(({ keys, cols, engine, part }) => {
      const { keys: keySpecs, partition } = partitioned(keys.map((typeId, i) => ({ name: `k${i}_${typeId}`, typeId })), cols, engine, part);
      return {
        keys: keySpecs,
        cols: cols.map((typeId, i) => ({ name: `c${i}_${typeId}`, typeId })),
        engine,
        ...(partition !== undefined ? { partition } : {}),
      };
    });
}

/** The `PARTITION BY` clause of a spec's CREATE TABLE ('' when not partitioned). */
export function partitionSql(spec: TableSpec): string {
  const p = spec.partition;
  if (p === undefined) return '';
  const col = ident(spec.keys[p.key]?.name ?? '');
  if (p.by === 'hash') return ` PARTITION BY HASH (${col}) PARTITIONS ${p.names.length}`;
  const parts = p.names.map((n, i) => `PARTITION ${ident(n)} VALUES LESS THAN (${p.bounds[i] ?? 'MAXVALUE'})`);
  return ` PARTITION BY RANGE (${col}) (${parts.join(', ')})`;
}

/**
 * The partition (index into `names`) holding a row with these key literals. HASH: MariaDB
 * takes the value modulo the partition count, negated when negative.
 */
export function partitionIndex(p: PartitionSpec, keyLits: readonly string[]): number {
  const v = BigInt(keyLits[p.key] ?? '0');
  if (p.by === 'hash') {
    const m = v % BigInt(p.names.length);
    return Number(m < 0n ? -m : m);
  }
  const i = p.bounds.findIndex((b) => v < BigInt(b));
  return i < 0 ? p.bounds.length : i;
}

export function createTableSql(name: string, spec: TableSpec, verb = 'CREATE TABLE'): string {
  const keyDefs = spec.keys.map((k) => `${ident(k.name)} ${allowedType(k.typeId).type.sql} NOT NULL`);
  const colDefs = spec.cols.map((c) => `${ident(c.name)} ${allowedType(c.typeId).type.sql} NULL`);
  const pk = `PRIMARY KEY (${spec.keys.map((k) => ident(k.name)).join(', ')})`;
  return `${verb} ${ident(name)} (${[...keyDefs, '`sdl_v` BIGINT NOT NULL DEFAULT 0', ...colDefs, pk].join(', ')}) ENGINE=${spec.engine}${partitionSql(spec)}`;
}

export function typeOf(c: ColumnSpec): AllowedType {
  return allowedType(c.typeId);
}
