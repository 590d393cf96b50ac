import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { duration, renderBar } from '../../src/snapshot/progress-bar.js';
import { SnapshotPace } from '../../src/snapshot/progress-report.js';

describe('snapshot progress bar', () => {
  it('shows table, rows done of estimated, rows/s and ETA in one line', () => {
    const line = renderBar({ table: 'shop.orders', rows: 4200, estimated: 10_000, rowsPerSecond: 1234.4, etaSeconds: 185 }, 100);
    assert.equal(line, 'shop.orders [#############-----------------]  42% 4200/~10000 rows 1234 rows/s ETA 3m05s');
  });

  it('stops at 99% while the estimate is passed (InnoDB estimates are samples) and at 0% with no estimate', () => {
    assert.match(renderBar({ table: 't', rows: 12_000, estimated: 10_000, rowsPerSecond: 1, etaSeconds: 0 }), / 99% 12000\/~10000 rows/);
    assert.match(renderBar({ table: 't', rows: 5, estimated: 0, rowsPerSecond: 1, etaSeconds: 0 }), /\[-+\] {3}0% 5\/~0 rows/);
  });

  it('never wider than the terminal', () => {
    const line = renderBar({ table: 'a_database_with_a_long_name.a_table_with_an_even_longer_name', rows: 1, estimated: 2, rowsPerSecond: 3, etaSeconds: 4 }, 60);
    assert.ok(line.length <= 60, line);
    assert.ok(line.endsWith('…'));
  });

  it('durations', () => {
    assert.deepEqual([duration(0), duration(59.6), duration(61), duration(7260)], ['0s', '1m00s', '1m01s', '2h01m']);
  });

  it('on a terminal, SnapshotPace redraws the bar in place and ends the line per table instead of logging progress lines', () => {
    const drawn: string[] = [];
    const logged: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => logged.push(String((JSON.parse(s) as { msg: string }).msg)) });
    const pace = new SnapshotPace(log, undefined, [{ name: 'shop.t', rows: 100 }], 0, 0, { write: (s: string) => drawn.push(s), columns: 100 }, 0);
    pace.startTable('shop.t', 0);
    pace.add(40);
    pace.add(60);
    pace.endTable();
    pace.finish();
    assert.ok(drawn.length >= 2, JSON.stringify(drawn));
    assert.ok(drawn.slice(0, -1).every((d) => d.startsWith('\r') && d.endsWith('\x1b[K')), JSON.stringify(drawn));
    assert.match(drawn[0] ?? '', /shop\.t \[.*\] {2}40% 40\/~100 rows/);
    assert.equal(drawn.at(-1), '\n');
    assert.deepEqual(logged, ['snapshot: copying shop.t', 'snapshot: shop.t copied (100 rows)']);
  });

  it('without a terminal, the progress log lines', () => {
    const logged: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => logged.push(String((JSON.parse(s) as { msg: string }).msg)) });
    const pace = new SnapshotPace(log, undefined, [{ name: 'shop.t', rows: 100 }], 0, 0);
    pace.startTable('shop.t', 0);
    pace.add(40);
    assert.match(logged[1] ?? '', /^snapshot: shop\.t 40 of ~100 rows, \d+ rows\/s, ETA \d+ s$/);
  });
});
