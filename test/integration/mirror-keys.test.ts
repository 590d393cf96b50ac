import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { decodeBatch } from '../../src/decode/decode-changes.js';
import { rehydrate } from '../../src/decode/rehydrate.js';
import { probeCapabilities, type Capabilities } from '../../src/mongo/capabilities.js';
import { applyMirrors, coalesce, type MirrorStrategy } from '../../src/mongo/mirrors.js';
import type { ColumnSpec, RawRow, RowChange, TableSchema } from '../../src/pipeline/types.js';
import { canonical } from '../../src/verify/verify.js';
import { MongoServer } from '../support/mongo.js';
import { Scratch } from '../support/processes.js';

/** Three distinct key values per keyable column kind, in the raw form zongji hands over with exact options. */
const KINDS: Array<{ name: string; col: Omit<ColumnSpec, 'name'>; values: [RawRow[string], RawRow[string], RawRow[string]] }> = [
  { name: 'int', col: { kind: 'int', unsigned: false, fsp: 0 }, values: [1, -2147483648, 2147483647] },
  { name: 'int_unsigned', col: { kind: 'int', unsigned: true, fsp: 0 }, values: [4294967295, 0, 2147483648] },
  { name: 'bigint', col: { kind: 'bigint', unsigned: false, fsp: 0 }, values: [5, '-9223372036854775808', '9007199254740993'] },
  { name: 'bigint_unsigned', col: { kind: 'bigint', unsigned: true, fsp: 0 }, values: ['18446744073709551615', '9223372036854775808', 7] },
  { name: 'decimal', col: { kind: 'decimal', unsigned: false, fsp: 0 }, values: ['1.50', '-0.01', '12345678901234567890123456789012345.123456789012345678901234567891'] },
  { name: 'double', col: { kind: 'float', unsigned: false, fsp: 0 }, values: [1.5, 0.1, -1e300] },
  { name: 'varchar', col: { kind: 'string', unsigned: false, fsp: 0 }, values: ['a', 'A', 'héllo ✓'] },
  { name: 'varbinary', col: { kind: 'binary', unsigned: false, fsp: 0 }, values: [Buffer.from([0]), Buffer.from([0, 0]), Buffer.from([255, 1])] },
  { name: 'date', col: { kind: 'date', unsigned: false, fsp: 0 }, values: ['2024-02-29', '0000-00-00', '1000-01-01'] },
  { name: 'datetime', col: { kind: 'datetime', unsigned: false, fsp: 0 }, values: ['2024-01-02 03:04:05', '0000-00-00 00:00:00', '9999-12-31 23:59:59'] },
  { name: 'datetime3', col: { kind: 'datetime', unsigned: false, fsp: 3 }, values: ['2024-01-02 03:04:05.123', '2024-01-02 03:04:05.124', '0000-00-00 00:00:00.000'] },
  { name: 'datetime6', col: { kind: 'datetime', unsigned: false, fsp: 6 }, values: ['2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123457', '0000-00-00 00:00:00.000000'] },
  { name: 'time', col: { kind: 'time', unsigned: false, fsp: 6 }, values: ['-838:59:59.000000', '00:00:00.000001', '12:34:56.000000'] },
  { name: 'set', col: { kind: 'set', unsigned: false, fsp: 0 }, values: ['x,z', '', 'y'] },
];

function schemaOf(db: string, table: string, keyCols: ColumnSpec[]): TableSchema {
  return { db, table, columns: [...keyCols, { name: 'v', kind: 'string', unsigned: false, fsp: 0 }], key: keyCols.map((c) => c.name) };
}

describe('mirror keys of every keyable type, read back and matched on both write strategies', () => {
  let scratch: Scratch;
  let server: MongoServer;
  let client: MongoClient;
  let caps: Capabilities;
  let n = 0;

  before(async () => {
    scratch = new Scratch('sdl-keys-');
    server = await MongoServer.start(scratch);
    client = new MongoClient(server.url, { serverSelectionTimeoutMS: 3000 });
    caps = await probeCapabilities(client, client.db('sdl_probe'));
  });
  after(async () => {
    await client?.close();
    await server?.stop();
    scratch?.dispose();
  });

  /** Decodes the changes with the real decoder and applies them as one batch; returns dead letters. */
  async function apply(schema: TableSchema, changes: Array<Pick<RowChange, 'op' | 'before' | 'after'>>, strategy: MirrorStrategy): Promise<number> {
    const full = changes.map((c, i): RowChange => {
      n++;
      return { ...c, schema: 0, id: `0-1-${n}#${i}`, seq: `000001:${String(n).padStart(12, '0')}:00000` };
    });
    const decoded = rehydrate(decodeBatch({ transactions: [{ gtid: `0-1-${n}`, ts: 1_700_000_000_000, schemas: [schema], changes: full }], caps }));
    const out = await applyMirrors(client, coalesce(decoded), { strategy });
    return out.rejected.length;
  }

  /** What the mirror must hold after the program below: canonical `_id` → v. */
  async function mirrorOf(schema: TableSchema): Promise<Map<string, unknown>> {
    const docs = await client.db(schema.db).collection(schema.table).find({}, { promoteValues: false, promoteLongs: false }).toArray();
    return new Map(docs.map((d) => [canonical(d['_id']), d['v']]));
  }

  for (const strategy of ['guarded-upsert', 'replace-set'] as const) {
    for (const composite of [false, true]) {
      it(`${strategy}, ${composite ? '(VARCHAR, key)' : 'single key'}: updates and deletes in later batches find the inserted documents`, async () => {
        for (const kind of KINDS) {
          const keyCols: ColumnSpec[] = composite
            ? [{ name: 's', kind: 'string', unsigned: false, fsp: 0 }, { name: 'k', ...kind.col }]
            : [{ name: 'k', ...kind.col }];
          const schema = schemaOf(`keys_${strategy === 'replace-set' ? 'rs' : 'gu'}_${composite ? 'c' : 's'}`, kind.name, keyCols);
          const row = (k: RawRow[string], v: string): RawRow => (composite ? { s: 'p', k, v } : { k, v });
          const [a, b, c] = kind.values;
          let dead = await apply(schema, [
            { op: 'insert', before: null, after: row(a, 'a1') },
            { op: 'insert', before: null, after: row(b, 'b1') },
            { op: 'insert', before: null, after: row(c, 'c1') },
          ], strategy);
          dead += await apply(schema, [{ op: 'update', before: row(a, 'a1'), after: row(a, 'a2') }], strategy);
          dead += await apply(schema, [{ op: 'delete', before: row(b, 'b1'), after: null }], strategy);
          // A key-changing update moves c's document to b's freed key.
          dead += await apply(schema, [{ op: 'update', before: row(c, 'c1'), after: row(b, 'b2') }], strategy);
          dead += await apply(schema, [{ op: 'update', before: row(a, 'a2'), after: row(a, 'a3') }], strategy);
          assert.equal(dead, 0, `${kind.name}: no dead letters`);
          const got = await mirrorOf(schema);
          const values = [...got.values()].map(String).sort();
          assert.deepEqual(values, ['a3', 'b2'], `${kind.name}: mirror holds ${JSON.stringify([...got])}`);
        }
      });
    }
  }
});
