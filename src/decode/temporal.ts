import type { ColumnSpec, RawValue } from '../pipeline/types.js';
import { DecodeError, describe, NULL_MAPPED, withRaw, type Mapped } from './mapped.js';

const TEMPORAL = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$/;

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  return month === 2 && isLeap(year) ? 29 : (DAYS[month - 1] ?? 0);
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Zero and invalid dates have no Date: null, with the exact text kept in raw. */
function unrepresentable(text: string): Mapped {
  return { ...NULL_MAPPED, raw: text, canon: withRaw('', text) };
}

/**
 * DATE / DATETIME / TIMESTAMP text (read with dateStrings, session time zone UTC) → Date (UTC).
 * Digits below the millisecond that are not zero stay in raw, as the exact text.
 */
export function mapTemporal(col: ColumnSpec, v: RawValue): Mapped {
  if (typeof v === 'string') v = withFsp(v.trim(), col.kind === 'date' ? 0 : col.fsp);
  if (v instanceof Date) {
    // A Date means the connection was opened without dateStrings: ms precision at best.
    if (Number.isNaN(v.getTime())) throw new DecodeError(`column ${col.name} (${col.kind}): invalid Date`);
    return { value: v, tag: 'date', canon: v.toISOString() };
  }
  if (typeof v !== 'string') throw new DecodeError(`column ${col.name} (${col.kind}): unexpected value ${describe(v)}`);
  const m = TEMPORAL.exec(v.trim());
  if (m === null) return unrepresentable(v);
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((p) => Number(p ?? '0')) as [
    number, number, number, number, number, number,
  ];
  const fraction = m[7] ?? '';
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return unrepresentable(v);
  }
  const ms = Number(fraction.slice(0, 3).padEnd(3, '0'));
  // Date.UTC maps years 0–99 to 1900–1999; set the full year separately.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, ms));
  date.setUTCFullYear(year);
  const raw = /[1-9]/.test(fraction.slice(3)) ? v : undefined;
  return { value: date, ...(raw === undefined ? {} : { raw }), tag: 'date', canon: withRaw(date.toISOString(), raw) };
}

/**
 * The text as MySQL shows it: exactly `fsp` fractional digits. The binlog pads to the column's
 * precision, the binary protocol drops trailing zeros; both must give the same raw text.
 */
export function withFsp(text: string, fsp: number): string {
  const m = /^(.*?\d{2}:\d{2}:\d{2})(?:\.(\d*))?$/.exec(text);
  if (m === null) return text;
  const base = m[1] ?? text;
  const fraction = (m[2] ?? '').padEnd(fsp, '0').slice(0, Math.max(fsp, (m[2] ?? '').replace(/0+$/, '').length));
  return fraction === '' ? base : `${base}.${fraction}`;
}
