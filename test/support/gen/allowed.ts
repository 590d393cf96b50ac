import { COLUMN_TYPES, type ColumnType } from './columns.js';
import { enabled } from './switches.js';

/** The catalog minus the literals and key types whose defects are still under repair (switches.ts). */

const C1 = /X'(?:[0-9A-F]{2})*?(?:81|8D|8F|90|9D)/;

function valueAllowed(t: ColumnType, lit: string): boolean {
  if (/^(uuid|inet4|inet6)$/.test(t.id)) return enabled('inetUuidColumns');
  if (t.id === 'point') return enabled('geometryColumns');
  if (t.id === 'year' && lit === "'0000'") return enabled('year0000');
  if (t.id === 'enum' && lit === "''") return enabled('invalidEnum');
  if (t.sql.includes('latin1') && C1.test(lit)) return enabled('latin1C1Bytes');
  return true;
}

function keyTypeAllowed(t: ColumnType): boolean {
  if (/^(bigint|float|double)/.test(t.id)) return enabled('roundTripKeys');
  if (/^(datetime|timestamp|time)6$/.test(t.id)) return enabled('subMillisecondKeys');
  if (/^decimal65/.test(t.id)) return enabled('wideDecimalKeys');
  if (t.id === 'set') return enabled('setKeys');
  return true;
}

function keyAllowed(t: ColumnType, lit: string): boolean {
  if (/'0000-00-00|-00[-' ]/.test(lit)) return enabled('zeroDateKeys');
  return valueAllowed(t, lit);
}

export interface AllowedType {
  type: ColumnType;
  keys: readonly string[];
  values: readonly string[];
}

export const ALLOWED_TYPES: readonly AllowedType[] = COLUMN_TYPES.map((type) => ({
  type,
  keys: keyTypeAllowed(type) ? type.keys.filter((k) => keyAllowed(type, k)) : [],
  values: type.values.filter((v) => valueAllowed(type, v)),
}));

export const ALLOWED_KEY_TYPES: readonly AllowedType[] = ALLOWED_TYPES.filter((t) => t.keys.length >= 2);

export function allowedType(id: string): AllowedType {
  const t = ALLOWED_TYPES.find((a) => a.type.id === id);
  if (t === undefined) throw new Error(`no column type ${id}`);
  return t;
}
