import { machineDefinitions } from '../../cli/machines.js';

/** A transition as the page draws it: the event (made readable), its guard, where it goes. */
export interface ChartTransition {
  event: string;
  guard?: string;
  /** Target state paths relative to the machine (`active.running.degraded`); empty for a self/internal one. */
  targets: string[];
}

/** A state node of a statechart, with its children: what the dashboard lays out and lights. */
export interface ChartState {
  key: string;
  /** Dotted path from the machine root (`active.running.healthy`), '' for the root. */
  path: string;
  type: string;
  initial?: string;
  transitions: ChartTransition[];
  states: ChartState[];
}

interface DefTransition {
  eventType?: string | null;
  guard?: unknown;
  target?: string[];
}

interface DefNode {
  id: string;
  key: string;
  type: string;
  initial?: { target?: string[] };
  states?: Record<string, DefNode>;
  transitions?: DefTransition[];
  /** Eventless transitions (see machineDefinitions). */
  always?: DefTransition[];
}

/** `xstate.done.actor.0.supervisor.starting` → `done`, `xstate.after.retry.committer.backoff` → `after retry`. */
export function readableEvent(type: string): string {
  if (type.startsWith('xstate.done.actor.')) return 'done';
  if (type.startsWith('xstate.error.actor.')) return 'error';
  const after = /^xstate\.after\.([^.]+)\./.exec(type);
  if (after !== null) return `after ${after[1]}`;
  return type;
}

/** `#supervisor.active.running` (or a bare id) → `active.running`, relative to machine `root`. */
function relative(target: string, root: string): string {
  const id = target.startsWith('#') ? target.slice(1) : target;
  if (id === root) return '';
  return id.startsWith(`${root}.`) ? id.slice(root.length + 1) : id;
}

function guardName(guard: unknown): string | undefined {
  if (typeof guard === 'string') return guard;
  if (guard !== null && typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return guard === undefined ? undefined : 'guard';
}

function convert(node: DefNode, root: string): ChartState {
  const path = relative(node.id, root);
  const raw = [...(node.transitions ?? []), ...(node.always ?? []).map((t) => ({ ...t, eventType: 'always' }))];
  const transitions = raw.map((t): ChartTransition => {
    const out: ChartTransition = { event: readableEvent(t.eventType ?? 'always'), targets: (t.target ?? []).map((x) => relative(x, root)) };
    const guard = guardName(t.guard);
    if (guard !== undefined) out.guard = guard;
    return out;
  });
  const state: ChartState = { key: node.key, path, type: node.type, transitions, states: Object.values(node.states ?? {}).map((s) => convert(s, root)) };
  const initial = node.initial?.target?.[0];
  if (initial !== undefined) state.initial = relative(initial, root);
  return state;
}

/** The four statecharts, from the same definitions `sdl machines` prints, reduced to what the page draws. */
export function chartModels(): Record<string, ChartState> {
  const out: Record<string, ChartState> = {};
  // Through JSON, exactly as `sdl machines` prints them: targets become '#id' strings there.
  const printed = JSON.parse(JSON.stringify(machineDefinitions())) as Record<string, unknown>;
  for (const [name, def] of Object.entries(printed)) {
    const node = def as DefNode;
    out[name] = convert(node, node.id);
  }
  return out;
}
