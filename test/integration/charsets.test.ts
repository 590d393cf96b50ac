import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createActor, setup } from 'xstate';
import { binlogStream, type BinlogStreamEvent } from '../../src/actors/binlog-stream.js';
import { mapValue } from '../../src/decode/map-value.js';
import { FULL_CAPABILITIES } from '../../src/decode/wire.js';
import { connectExact } from '../../src/mysql/connection.js';
import type { SourceTransaction } from '../../src/pipeline/types.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * Charsets sdl refuses (UNSUPPORTED_COLUMN) because no decoder it has matches the server
 * byte for byte; README's type table lists the same. Every other charset must match.
 */
const REFUSED: string[] = ['big5', 'cp932', 'eucjpms', 'euckr', 'gb2312', 'gbk', 'sjis', 'ucs2', 'ujis'];

/** A broad Unicode sample: every 37th code point up to plane 2, minus surrogates, in strings of 24. */
function unicodeSample(): string[] {
  const cps: number[] = [];
  for (let cp = 0x20; cp < 0x2ffff; cp += 37) if (cp < 0xd800 || cp > 0xdfff) cps.push(cp);
  const out: string[] = [];
  for (let i = 0; i < cps.length; i += 24) out.push(String.fromCodePoint(...cps.slice(i, i + 24)));
  return out;
}

/** Streams the whole binlog of `include` with the real reader until `done` says so or it fails. */
async function stream(stack: Stack, include: string[], done: (txns: SourceTransaction[]) => boolean): Promise<{ txns: SourceTransaction[]; error?: BinlogStreamEvent & { type: 'STREAM_ERROR' } }> {
  const txns: SourceTransaction[] = [];
  return new Promise((resolve) => {
    const parent = setup({ actors: { binlogStream }, types: { events: {} as BinlogStreamEvent } }).createMachine({
      invoke: { src: 'binlogStream', input: { url: stack.mariadb.url, serverId: 4000 + Math.floor(Math.random() * 1000), start: undefined, include } },
      on: {
        TXN: { actions: ({ event }) => { txns.push(event.txn); if (done(txns)) finish(); } },
        STREAM_ERROR: { actions: ({ event }) => finish(event) },
      },
    });
    const actor = createActor(parent);
    const timer = setTimeout(() => finish(), 60_000);
    function finish(error?: BinlogStreamEvent & { type: 'STREAM_ERROR' }): void {
      clearTimeout(timer);
      setImmediate(() => actor.stop());
      resolve(error === undefined ? { txns } : { txns, error });
    }
    actor.start();
  });
}

describe('every charset of the server: binlog values decode as the server returns them', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('matches CONVERT(col USING utf8mb4) byte for byte, or refuses the column with UNSUPPORTED_COLUMN', async () => {
    const conn = await connectExact(stack.mariadb.url);
    const [sets] = await conn.query("SELECT CHARACTER_SET_NAME AS n, MAXLEN AS m FROM information_schema.CHARACTER_SETS WHERE CHARACTER_SET_NAME <> 'binary' ORDER BY 1");
    const charsets = sets as { n: string; m: number }[];
    assert.ok(charsets.length >= 30, `only ${charsets.length} charsets`);
    await conn.query('CREATE DATABASE cs');
    // Non-strict, as a user's session may be: the server stores what it stores, and that is what we compare.
    await conn.query("SET SESSION sql_mode = ''");
    const sample = unicodeSample();
    const expectedRows = new Map<string, number>();
    for (const { n, m } of charsets) {
      await conn.query(`CREATE TABLE cs.t_${n} (id INT PRIMARY KEY, v VARCHAR(600) CHARACTER SET ${n}, t TEXT CHARACTER SET ${n})`);
      const rows: [number, string][] = [];
      // Every single byte, every byte together, and the upper half alone (single-byte charsets hold any byte).
      for (let b = 0; b < 256; b++) rows.push([b, b.toString(16).padStart(2, '0')]);
      rows.push([256, Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('hex')]);
      rows.push([257, Buffer.from(Array.from({ length: 128 }, (_, i) => i + 128)).toString('hex')]);
      for (const [id, hex] of rows) await conn.query(`INSERT INTO cs.t_${n} VALUES (?, UNHEX(?), UNHEX(?))`, [id, hex, hex]);
      if (m > 1) {
        let id = 1000;
        for (const s of sample) {
          await conn.query(`INSERT INTO cs.t_${n} VALUES (?, CONVERT(? USING ${n}), CONVERT(? USING ${n}))`, [id++, s, s]);
        }
      }
      const [[count]] = await conn.query(`SELECT COUNT(*) AS c FROM cs.t_${n}`) as unknown as [[{ c: number }]];
      expectedRows.set(n, Number(count.c));
    }

    const refused: string[] = [];
    const mismatches: string[] = [];
    for (const { n } of charsets) {
      const want = expectedRows.get(n) ?? 0;
      const seen = (txns: SourceTransaction[]): number => txns.reduce((a, t) => a + t.changes.length, 0);
      const { txns, error } = await stream(stack, [`cs.t_${n}`], (t) => seen(t) >= want);
      if (error !== undefined) {
        assert.equal(error.error.code, 'UNSUPPORTED_COLUMN', `${n}: ${error.error.message}`);
        assert.equal(error.error.errorClass, 'permanent');
        assert.match(error.error.message, new RegExp(`cs\\.t_${n}\\.v: character set ${n}`));
        refused.push(n);
        continue;
      }
      assert.equal(seen(txns), want, `${n}: row changes streamed`);
      const [server] = await conn.query(`SELECT id, CONVERT(v USING utf8mb4) AS v, CONVERT(t USING utf8mb4) AS t FROM cs.t_${n}`);
      const byId = new Map((server as { id: number; v: string; t: string }[]).map((r) => [r.id, r]));
      let bad = 0;
      for (const txn of txns) {
        for (const change of txn.changes) {
          const schema = txn.schemas[change.schema];
          assert.ok(schema !== undefined && change.after !== null);
          const id = Number(change.after['id']);
          const expected = byId.get(id);
          for (const col of ['v', 't'] as const) {
            const spec = schema.columns.find((c) => c.name === col);
            assert.ok(spec !== undefined);
            const got = mapValue(spec, change.after[col], FULL_CAPABILITIES).value;
            if (got !== expected?.[col]) {
              if (bad++ < 3) mismatches.push(`${n}.${col} id ${id}: server ${JSON.stringify(expected?.[col])} sdl ${JSON.stringify(got)}`);
            }
          }
        }
      }
      if (bad > 0) mismatches.push(`${n}: ${bad} values differ`);
    }
    await conn.end();
    assert.deepEqual(mismatches, [], mismatches.join('\n'));
    assert.deepEqual(refused, REFUSED, `refused charsets: ${refused.join(', ')}`);
  });
});
