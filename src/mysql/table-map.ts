import type { TableMapEvent } from '@vlasky/zongji';
import { canDecodeCharset, decodeCharset, PASSTHROUGH_CHARSET } from '../decode/charsets.js';
import { arrivesAsBytes, type BinlogColumn, T } from './table-schema.js';

/** MySQL's collation id of the `binary` pseudo-charset (BINARY, VARBINARY, BLOB columns). */
const BINARY_COLLATION = 63;

/** Fields of a zongji TableMap event that its typings leave out: the event's own metadata. */
interface TableMapMetadata {
  /** Collation id per character column (binlog optional metadata). */
  _columnCharsetIds?: (number | undefined)[];
  /** ENUM/SET labels as raw bytes in the column's charset. */
  _enumSetValues?: (Buffer[] | undefined)[];
}

/** The true charset of each zongji column object, kept because we overwrite theirs. */
const trueCharset = new WeakMap<object, string | null>();

/**
 * The columns of a TableMap in the reader's terms, and zongji's decoding of them set up so
 * every value reaches src/decode exactly:
 * - charsets come from the event's collation ids resolved by the server's own COLLATIONS
 *   table (zongji's table is MySQL's and guesses utf8mb4 for ids it lacks, such as MariaDB's
 *   nopad collations);
 * - text columns other than UTF-8 are handed over as undecoded bytes (zongji would decode
 *   latin1 as cp1252);
 * - ENUM/SET labels are decoded by the same decoders, and an ENUM's index 0 (the invalid
 *   value `''` a non-strict sql_mode stores) reads as `''` as the server returns it, where
 *   zongji's `labels[index - 1]` gives undefined.
 * zongji parses a row event only after the 'binlog' listeners of its TableMap have run, so
 * the changes made here apply to that table's rows.
 */
export function tableMapColumns(e: TableMapEvent, collations: ReadonlyMap<number, string>): BinlogColumn[] {
  const entry = e.tableMap[e.tableId];
  const schemas = entry?.columnSchemas ?? [];
  const meta = e as unknown as TableMapMetadata;
  return (entry?.columns ?? []).map((c, i) => {
    const schema = schemas[i];
    let charset = trueCharset.has(c) ? (trueCharset.get(c) ?? null) : c.charset;
    const id = meta._columnCharsetIds?.[i];
    if (id !== undefined) charset = id === BINARY_COLLATION ? null : (collations.get(id) ?? `unknown (collation id ${id})`);
    trueCharset.set(c, charset);
    if (arrivesAsBytes(c.type, charset)) c.charset = PASSTHROUGH_CHARSET;
    if (schema !== undefined && charset !== null && canDecodeCharset(charset)) {
      const raw = meta._enumSetValues?.[i];
      const labels = raw?.map((b) => decodeCharset(b, charset)) ?? (c.type === T.ENUM ? enumLabels(schema.COLUMN_TYPE) : undefined);
      if (labels !== undefined && c.type === T.ENUM) {
        // zongji reads labels[index - 1]: index 0 looks up the property "-1".
        (labels as unknown as Record<number, string>)[-1] = '';
        schema.ENUM_VALUES = labels;
      } else if (labels !== undefined && c.type === T.SET) schema.SET_VALUES = labels;
    }
    return {
      name: c.name,
      type: c.type,
      charset,
      metadata: withHiresPrecision(c.type, c.metadata, schema?.COLUMN_TYPE),
      unsigned: schema?.UNSIGNED === true || /unsigned/i.test(schema?.COLUMN_TYPE ?? ''),
    };
  });
}

/**
 * MariaDB 5.3-format ("hires") TIME/DATETIME/TIMESTAMP columns are logged under the classic type
 * codes with no metadata: their precision is only in the column definition zongji fetched
 * (`datetime(6) /* mariadb-5.3 *\/`). Without it a DATETIME(6) key counted as fsp 0 and was cut to
 * milliseconds in `_id`, while a snapshot (information_schema knows the precision) kept it whole.
 */
function withHiresPrecision(type: number, metadata: Record<string, unknown> | undefined, columnType: string | undefined): Record<string, unknown> | undefined {
  if ((type !== T.TIME && type !== T.DATETIME && type !== T.TIMESTAMP) || typeof metadata?.['decimals'] === 'number') return metadata;
  const m = /^(?:time|datetime|timestamp)\((\d)\)/i.exec(columnType ?? '');
  return m?.[1] === undefined ? metadata : { ...metadata, decimals: Number(m[1]) };
}

/** Labels of an information_schema COLUMN_TYPE `enum('a','b''c')`, as text. */
function enumLabels(columnType: string): string[] | undefined {
  const m = /^enum\((.*)\)$/is.exec(columnType);
  if (m?.[1] === undefined) return undefined;
  return [...m[1].matchAll(/'((?:[^']|'')*)'/g)].map((x) => (x[1] ?? '').replace(/''/g, "'"));
}
