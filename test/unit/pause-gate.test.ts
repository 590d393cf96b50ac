import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatePauses } from '../../src/mysql/pause-gate.js';

/** A connection that only records whether it reads. */
function connection(): { reading: boolean; pause(): void; resume(): void } {
  return {
    reading: true,
    pause() {
      this.reading = false;
    },
    resume() {
      this.reading = true;
    },
  };
}

describe('binlog connection pauses shared by zongji and backpressure', () => {
  it('keeps a backpressure pause when zongji ends its table fetch', () => {
    const conn = connection();
    const backpressure = gatePauses(conn);
    conn.pause(); // zongji: unknown TableMap, fetching columns
    backpressure.pause();
    conn.resume(); // zongji: fetch done
    assert.equal(conn.reading, false, 'zongji resumed a connection backpressure holds paused');
    backpressure.resume();
    assert.equal(conn.reading, true);
  });

  it('keeps zongji\'s fetch pause when backpressure lifts first', () => {
    const conn = connection();
    const backpressure = gatePauses(conn);
    backpressure.pause();
    conn.pause();
    backpressure.resume();
    assert.equal(conn.reading, false, 'rows would be decoded before their table is known');
    conn.resume();
    assert.equal(conn.reading, true);
  });

  it('pauses and resumes for either alone', () => {
    const conn = connection();
    const backpressure = gatePauses(conn);
    backpressure.pause();
    assert.equal(conn.reading, false);
    backpressure.resume();
    assert.equal(conn.reading, true);
    conn.pause();
    assert.equal(conn.reading, false);
    conn.resume();
    assert.equal(conn.reading, true);
  });
});
