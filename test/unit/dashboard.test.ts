import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InspectionEvent } from 'xstate';
import { machineDefinitions } from '../../src/cli/machines.js';
import { chartModels, type ChartState } from '../../src/http/dashboard/chart-model.js';
import { LiveState } from '../../src/http/dashboard/live-state.js';
import { RateWindow, Ring } from '../../src/http/dashboard/samples.js';

function paths(s: ChartState): string[] {
  return [s.path, ...s.states.flatMap(paths)];
}

/** An inspection snapshot event as xstate emits it for a machine with this systemId. */
function snap(systemId: string, value: unknown, context: Record<string, unknown> = {}): InspectionEvent {
  return { type: '@xstate.snapshot', actorRef: { id: 'x', systemId }, rootId: 'x', event: { type: 'E' }, snapshot: { value, status: 'active', context } } as unknown as InspectionEvent;
}

describe('dashboard: statecharts drawn from the machine definitions', () => {
  it('has every state of the four machines, with transitions the page can label', () => {
    const charts = chartModels();
    assert.deepEqual(Object.keys(charts).sort(), ['batcher', 'committer', 'reader', 'supervisor']);
    assert.deepEqual(paths(charts['committer']).sort(), ['', 'backoff', 'checkpointing', 'drained', 'failed', 'idle', 'recovering', 'writing']);
    assert.ok(paths(charts['supervisor']).includes('active.running.degraded'));
    const writing = charts['committer'].states.find((s) => s.key === 'writing')!;
    assert.deepEqual(writing.transitions, [
      { event: 'done', targets: ['checkpointing'] },
      { event: 'error', guard: 'transient', targets: ['backoff'] },
      { event: 'error', targets: ['failed'] },
    ]);
    // Eventless transitions: XState's definition leaves them out; `sdl machines` and the page have them.
    const idle = charts['committer'].states.find((s) => s.key === 'idle')!;
    assert.deepEqual(idle.transitions.map((t) => `${t.event}[${t.guard}]→${t.targets.join()}`), ['always[hasWork]→writing', 'always[drained]→drained']);
    const printed = JSON.parse(JSON.stringify(machineDefinitions())) as Record<string, { states: Record<string, { always?: { target: string[] }[] }> }>;
    assert.deepEqual(printed['committer']?.states['idle']?.always?.map((t) => t.target), [['#committer.writing'], ['#committer.drained']]);
  });
});

describe('dashboard: live state from inspection events', () => {
  it('follows each machine, and keeps one error row per code within a retry episode, closed on recovery', () => {
    let now = 1000;
    const live = new LiveState(() => now);
    let changes = 0;
    live.onChange(() => changes++);
    const network = { code: 'MONGO_ERROR', errorClass: 'transient', message: 'connect ECONNREFUSED' };
    const stale = { code: 'LEASE_STALE', errorClass: 'transient', message: 'lease last renewed 3 s ago' };
    live.observe(snap('committer', 'idle', { queue: [], attempt: 0 }));
    live.observe(snap('committer', 'idle', { queue: [{}, {}], attempt: 0 }));
    assert.equal(changes, 1, 'only state changes wake the page, not context updates');
    assert.equal(live.snapshot().committerQueue, 2);
    live.observe(snap('committer', 'writing', { queue: [{}], attempt: 0 }));
    live.observe(snap('committer', 'backoff', { attempt: 0, lastError: network }));
    now = 2000;
    live.observe(snap('committer', 'writing', { attempt: 1, lastError: network }));
    live.observe(snap('committer', 'backoff', { attempt: 1, lastError: stale }));
    live.observe(snap('committer', 'writing', { attempt: 2, lastError: stale }));
    live.observe(snap('committer', 'backoff', { attempt: 2, lastError: network }));
    live.observe(snap('supervisor', { active: { running: 'degraded' } }, { degraded: ['committer'] }));
    let s = live.snapshot();
    assert.deepEqual(s.machines.committer.value, 'backoff');
    assert.deepEqual(s.degraded, ['committer']);
    assert.deepEqual(s.errors.map((e) => [e.code, e.retries, e.recoveredAt]), [['MONGO_ERROR', 2, undefined], ['LEASE_STALE', 1, undefined]]);
    now = 3000;
    live.observe(snap('committer', 'writing', { attempt: 3, lastError: network }));
    live.observe(snap('committer', 'checkpointing', { attempt: 3, lastError: network }));
    assert.ok(live.snapshot().errors.every((e) => e.recoveredAt === undefined), 'still in the episode until a step succeeds');
    live.observe(snap('committer', 'idle', { attempt: 0, lastError: network }));
    s = live.snapshot();
    assert.deepEqual(s.errors.map((e) => e.recoveredAt), [3000, 3000]);
    assert.equal(s.machines.reader.status, 'absent', 'a machine not seen yet is absent, not guessed');
  });
});

describe('dashboard: samples', () => {
  it('rates rows by table and op over the window, and keeps only the last samples', () => {
    const w = new RateWindow(5000);
    const at = (table: string, op: string, value: number) => ({ labels: { table, op }, value });
    assert.deepEqual(w.add(0, []), []);
    w.add(1000, [at('shop.t', 'c', 10)]);
    const r = w.add(5000, [at('shop.t', 'c', 110), at('shop.t', 'd', 20)]);
    assert.deepEqual(r, [
      { table: 'shop.t', op: 'c', total: 110, perSecond: 22 },
      { table: 'shop.t', op: 'd', total: 20, perSecond: 4 },
    ]);
    const later = w.add(11000, [at('shop.t', 'c', 110), at('shop.t', 'd', 20)]);
    assert.deepEqual(later.map((x) => x.perSecond), [0, 0], 'no rows in the window: 0/s');
    const ring = new Ring(3);
    for (let i = 0; i < 5; i++) ring.push(i, i * 10);
    assert.deepEqual(ring.values(), [[2, 20], [3, 30], [4, 40]]);
  });
});
