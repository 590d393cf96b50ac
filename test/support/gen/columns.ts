import { asciiBytes, dateText, datetimeText, epochUs, hex, str, timeText } from './sql.js';

/**
 * Every column type of DESIGN.md's type table (and MariaDB's UUID/INET4/INET6) as a generator
 * sees it: its DDL, the key values it can take (distinct under the column's own equality, so
 * the model's key identity is the server's), and the edge values a non-key column gets.
 */
export interface ColumnType {
  id: string;
  sql: string;
  /** SQL literals, pairwise distinct as stored (collation, padding and precision included). */
  keys: readonly string[];
  /** SQL literals for non-key columns; NULL is added for nullable columns. */
  values: readonly string[];
  /** A type a MODIFY COLUMN can change this one to without losing any of its values. */
  widen?: string;
}

const ints = (bits: number, unsigned: boolean): string[] => {
  const max = unsigned ? (1n << BigInt(bits)) - 1n : (1n << BigInt(bits - 1)) - 1n;
  const min = unsigned ? 0n : -(1n << BigInt(bits - 1));
  const edges = new Set<bigint>([min, max, 0n, 1n, min + 1n, max - 1n, 2n, 3n]);
  for (const e of [53n, 63n]) {
    for (const d of [-1n, 0n, 1n]) {
      const v = (1n << e) + d;
      if (v <= max) edges.add(v);
      if (-v >= min) edges.add(-v);
    }
  }
  return [...edges].map(String);
};

function intType(name: string, bits: number, unsigned: boolean, widen?: string): ColumnType {
  const v = ints(bits, unsigned);
  return { id: `${name}${unsigned ? 'u' : ''}`.toLowerCase(), sql: `${name}${unsigned ? ' UNSIGNED' : ''}`, keys: v, values: v, ...(widen !== undefined ? { widen } : {}) };
}

const DEC65 = '12345678901234567890123456789012345.123456789012345678901234567890';
const decimal65: string[] = [0, 1, 2, 9].map((d) => DEC65.slice(0, -1) + String(d));
decimal65.push('-' + DEC65, '0.000000000000000000000000000001', '-0.000000000000000000000000000001', '0', '99999999999999999999999999999999999.999999999999999999999999999999');

const FLOAT_KEYS = ['0', '0.5', '-2.75', '1.25', '16777216', '-16777216', '3.0517578125e-05', '1024.5'];
const DOUBLE_KEYS = ['0', '0.1', '-2.75', '9007199254740992', '9007199254740994', '1.7976931348623157e308', '5e-324', '-1e-300'];

const temporalUnit = (p: number): bigint => 10n ** BigInt(6 - p);

function datetimeType(kind: 'DATETIME' | 'TIMESTAMP', p: number): ColumnType {
  const u = temporalUnit(p);
  // Keys one unit of the column's precision apart (1 µs for (6)), around a DST-free instant.
  const base = epochUs('2021-06-15 12:34:56');
  const near = [0n, 1n, 2n, 3n, 1_000n, 1_000_000n].map((k) => datetimeText(base + k * u, p));
  const edges =
    kind === 'DATETIME'
      ? ['1000-01-01 00:00:00', datetimeText(epochUs('9999-12-31 23:59:59') + 1_000_000n - u, p), '1970-01-01 00:00:00']
      : ['1970-01-01 00:00:01', datetimeText(epochUs('2038-01-19 03:14:07') + 1_000_000n - u, p)];
  const keys = [...near, ...edges, '0000-00-00 00:00:00'].map(str);
  return { id: `${kind.toLowerCase()}${p}`, sql: `${kind}(${p})`, keys, values: [...keys, str('2024-00-10 00:00:00')], ...(p < 6 ? { widen: `${kind}(6)` } : {}) };
}

function timeType(p: number): ColumnType {
  const u = temporalUnit(p);
  const near = [0n, u, -u, 2n * u, 3_600_000_000n, -3_600_000_000n].map((us) => timeText(us, p));
  const max = 838n * 3_600_000_000n + 59n * 60_000_000n + 59n * 1_000_000n;
  const keys = [...near, timeText(max, p), timeText(-max, p)].map(str);
  return { id: `time${p}`, sql: `TIME(${p})`, keys, values: keys, ...(p < 6 ? { widen: 'TIME(6)' } : {}) };
}

type Charset = 'utf8mb4' | 'latin1' | 'binary';

/** Key strings differ in a digit, so no collation (case, accent, pad) can equate two of them. */
function stringKeys(cs: Charset, width: number, fixed: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < 8; i++) {
    if (cs === 'utf8mb4') out.push(str(['k😀', 'é', 'K', 'ß'][i % 4] + String(i)));
    else if (cs === 'latin1') out.push(hex([0x81, 0x8d, 0x9d, 0xe9, ...asciiBytes(String(i))].slice(i % 3)));
    // BINARY(n) pads with 0x00 and compares the padded bytes: its keys are full width.
    else out.push(hex([0x00, ...asciiBytes(String(i)), 0x00, 0xff, ...(fixed ? Array<number>(width - 4).fill(0) : [])]));
  }
  return out;
}

function stringValues(cs: Charset): string[] {
  if (cs === 'utf8mb4') return ["''", str('plain'), str('😀 four-byte'), str('é ü ß ✓'), str('trailing  '), str('Ａ全角'), str('quote \' and \\ backslash')];
  if (cs === 'latin1') {
    return ["''", str('plain'), hex([0x80, 0x81, 0x8d, 0x8f, 0x90, 0x9d, 0x9f]), hex([0xc3, 0xa9, 0xe2, 0x82, 0xac]), hex([0xa0, 0xff, 0x20]), str('café')];
  }
  return ["''", hex([0x00]), hex([0x00, 0x00, 0x01]), hex([0xff, 0x00, 0x80]), str('text'), hex([0x41, 0x00])];
}

function stringType(kind: 'CHAR' | 'VARCHAR', width: number, cs: Charset): ColumnType {
  const sql = cs === 'binary' ? `${kind === 'CHAR' ? 'BINARY' : 'VARBINARY'}(${width})` : `${kind}(${width}) CHARACTER SET ${cs}`;
  const values = stringValues(cs).filter((v) => v.length <= width * 4 + 3);
  return { id: `${kind.toLowerCase()}${width}_${cs}`, sql, keys: stringKeys(cs, width, kind === 'CHAR'), values, widen: sql.replace(`(${width})`, `(${width * 2})`) };
}

function textType(cs: Charset): ColumnType {
  const sql = cs === 'binary' ? 'BLOB' : `TEXT CHARACTER SET ${cs}`;
  return { id: `text_${cs}`, sql, keys: [], values: [...stringValues(cs), cs === 'binary' ? `REPEAT(${hex([0, 1, 2])}, 3000)` : `REPEAT('ab✓', 3000)`] };
}

const SET_KEYS = ['', 'x', 'y', 'x,y', 'z', 'x,z', 'y,z', 'x,y,z'].map(str);
const JSON_VALUES = [
  '{"big": 12345678901234567890, "neg": -9223372036854775809}',
  '[[1, [2, [3]]], {"a": [[]]}]',
  '{"dotted.key": 1, "$dollar": {"x.y": [1, 2]}}',
  '{"s": "😀", "f": 1.5e300, "n": null, "t": true}',
  '"just a string"',
  '9007199254740993',
  '[]',
].map(str);

/** The whole catalog; `id`s are stable so a printed case names its types. */
export const COLUMN_TYPES: readonly ColumnType[] = [
  intType('TINYINT', 8, false, 'SMALLINT'),
  intType('TINYINT', 8, true),
  intType('SMALLINT', 16, false, 'INT'),
  intType('SMALLINT', 16, true),
  intType('MEDIUMINT', 24, false),
  intType('MEDIUMINT', 24, true),
  intType('INT', 32, false, 'BIGINT'),
  intType('INT', 32, true, 'BIGINT UNSIGNED'),
  intType('BIGINT', 64, false, 'DECIMAL(65,0)'),
  intType('BIGINT', 64, true, 'DECIMAL(65,0)'),
  { id: 'year', sql: 'YEAR', keys: ["'0000'", '1901', '2155', '2000', '1999', '1970', '2069', '2024'], values: ["'0000'", '1901', '2155', '2000'] },
  { id: 'decimal10_2', sql: 'DECIMAL(10,2)', keys: ['0', '0.01', '-0.01', '99999999.99', '-99999999.99', '1.10', '1.11'], values: ['0', '0.01', '99999999.99', '-12.50'], widen: 'DECIMAL(20,4)' },
  { id: 'decimal65_30', sql: 'DECIMAL(65,30)', keys: decimal65, values: decimal65 },
  { id: 'decimal65_0', sql: 'DECIMAL(65,0)', keys: ['0', '1', '-1', '9'.repeat(65), '-' + '9'.repeat(65), '18446744073709551616', '9223372036854775808'], values: ['0', '9'.repeat(65), '-' + '9'.repeat(65)] },
  { id: 'float', sql: 'FLOAT', keys: FLOAT_KEYS, values: [...FLOAT_KEYS, '3.4028234e38', '-1.17549435e-38', '0.1'], widen: 'DOUBLE' },
  { id: 'double', sql: 'DOUBLE', keys: DOUBLE_KEYS, values: [...DOUBLE_KEYS, '-0', '2.2250738585072014e-308'] },
  ...(['CHAR', 'VARCHAR'] as const).flatMap((k) => (['utf8mb4', 'latin1', 'binary'] as const).map((cs) => stringType(k, k === 'CHAR' ? 8 : 24, cs))),
  ...(['utf8mb4', 'latin1', 'binary'] as const).map(textType),
  { id: 'enum', sql: "ENUM('a','b','c','d')", keys: ["'a'", "'b'", "'c'", "'d'", "''"], values: ["'a'", "'d'", "''"], widen: "ENUM('a','b','c','d','e')" },
  { id: 'set', sql: "SET('x','y','z')", keys: SET_KEYS, values: SET_KEYS },
  { id: 'bit1', sql: 'BIT(1)', keys: ["b'0'", "b'1'"], values: ["b'0'", "b'1'"] },
  { id: 'bit8', sql: 'BIT(8)', keys: ["b'0'", "b'1'", "b'11111111'", "b'10000000'", "b'01111111'", "b'10'"], values: ["b'0'", "b'11111111'"], widen: 'BIT(16)' },
  { id: 'bit64', sql: 'BIT(64)', keys: ['0', '1', '18446744073709551615', '9223372036854775808', '9007199254740993'], values: ['0', '18446744073709551615'] },
  { id: 'date', sql: 'DATE', keys: [0, 1, 2, 366].map((d) => str(dateText(18_000 + d))).concat(["'1000-01-01'", "'9999-12-31'", "'0000-00-00'", "'2024-00-00'"]), values: ["'0000-00-00'", "'2024-02-29'", "'1000-01-01'", "'9999-12-31'", "'2024-02-00'"] },
  ...[0, 1, 3, 6].map((p) => datetimeType('DATETIME', p)),
  ...[0, 3, 6].map((p) => datetimeType('TIMESTAMP', p)),
  ...[0, 3, 6].map(timeType),
  { id: 'json', sql: 'JSON', keys: [], values: JSON_VALUES },
  { id: 'uuid', sql: 'UUID', keys: [], values: ["'00000000-0000-0000-0000-000000000000'", "'123e4567-e89b-12d3-a456-426614174000'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'"] },
  { id: 'inet4', sql: 'INET4', keys: [], values: ["'0.0.0.0'", "'255.255.255.255'", "'10.1.2.3'"] },
  { id: 'inet6', sql: 'INET6', keys: [], values: ["'::'", "'::ffff:1.2.3.4'", "'2001:db8::ff00:42:8329'"] },
  { id: 'point', sql: 'POINT', keys: [], values: ['POINT(1, 2)', 'POINT(-1.5, 1e300)'] },
];

export const KEYABLE_TYPES: readonly ColumnType[] = COLUMN_TYPES.filter((t) => t.keys.length >= 2);

export function columnType(id: string): ColumnType {
  const t = COLUMN_TYPES.find((c) => c.id === id);
  if (t === undefined) throw new Error(`no column type ${id}`);
  return t;
}
