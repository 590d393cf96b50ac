import assert from 'node:assert/strict';
import {
  type AnyActorLogic,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type EventObject,
  type InspectionEvent,
  type StateValue,
  createActor,
  createMachine,
  fromCallback,
  fromPromise,
  setup,
  SimulatedClock,
} from 'xstate';
import { TestModel, type TestParam, type TestPath } from 'xstate/graph';
import { driverCode } from '../../src/errors.js';
import { StepError } from '../../src/machines/committer.js';
import type { Capabilities } from '../../src/mongo/capabilities.js';
import type { SystemId } from '../../src/machines/system.js';

/** What each stand-in received, by systemId: the observable effects of the machine under test. */
export type Received = Record<SystemId, EventObject[]>;

export const SYSTEM_IDS: readonly SystemId[] = ['supervisor', 'reader', 'batcher', 'committer'];

/** A stand-in that only records what it is sent. */
export function recorder(received: Received, as?: SystemId): AnyActorLogic {
  return fromCallback<EventObject, SystemId>(({ input, receive }) => {
    receive((e) => received[as ?? input].push(e));
  });
}

export function emptyReceived(): Received {
  return { supervisor: [], reader: [], batcher: [], committer: [] };
}

/** One invocation of a controllable promise actor: the test decides if and when it settles. */
export interface Call<I, O> {
  input: I;
  resolve: (output: O) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal;
}

/** A promise actor that neither resolves nor rejects until the test says so (or hangs forever). */
export function controllable<I, O>(): { logic: ReturnType<typeof fromPromise<O, I>>; calls: Call<I, O>[] } {
  const calls: Call<I, O>[] = [];
  const logic = fromPromise<O, I>(
    ({ input, signal }) =>
      new Promise<O>((resolve, reject) => {
        calls.push({ input, resolve, reject, signal });
      }),
  );
  return { logic, calls };
}

/** The newest call that is still waiting; a path step settles exactly this one. */
export function lastCall<I, O>(calls: Call<I, O>[]): Call<I, O> {
  const call = calls[calls.length - 1];
  assert.ok(call !== undefined, 'the machine invoked no actor here');
  assert.equal(call.signal.aborted, false, 'the actor to settle was already stopped');
  return call;
}

/** Lets promise reactions and the mailbox run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * Runs a machine under `systemId` inside a tiny root that also invokes recording stand-ins
 * for every sibling, so `sendTo(sibling(...))` reaches something real in the same system.
 */
export function startInSystem(machine: AnyStateMachine, systemId: SystemId, input: unknown, inspect?: (ev: InspectionEvent) => void) {
  const clock = new SimulatedClock();
  const received = emptyReceived();
  const errors: unknown[] = [];
  const siblings = SYSTEM_IDS.filter((id) => id !== systemId);
  const root = setup({ actors: { sut: machine, stub: recorder(received) } }).createMachine({
    invoke: [
      { id: 'sut', systemId, src: 'sut', input: () => input as never },
      ...siblings.map((id) => ({ id, systemId: id, src: 'stub' as const, input: () => id as never })),
    ],
  });
  const actor = createActor(root, { clock, ...(inspect !== undefined ? { inspect } : {}) });
  actor.subscribe({ error: (e) => errors.push(e) });
  actor.start();
  const sut = actor.getSnapshot().children.sut;
  assert.ok(sut !== undefined);
  return { root: actor, sut, clock, received, errors };
}

/**
 * State plus the context that decides behaviour: the graph's vertices. `abstract` may only
 * drop fields the walk never compares (counters, error text): merging states that behave
 * differently would splice paths whose steps do not follow from each other.
 */
export function serializer<C>(abstract: (context: C) => unknown) {
  return (state: { value: StateValue; context: C }, event: EventObject | undefined, prev?: { value: StateValue }): string => {
    const here = JSON.stringify({ value: state.value, context: abstract(state.context) });
    // One vertex per incoming transition as well: shortest paths then walk every transition.
    const via = event === undefined || prev === undefined ? '' : ` via ${JSON.stringify(event)} from ${JSON.stringify(prev.value)}`;
    return here + via;
  };
}

export type Path = TestPath<ReturnType<AnyStateMachine['transition']>, EventObject>;

/**
 * A test model over the machine's own graph. `createTestModel` refuses machines that invoke
 * actors, so this builds the `TestModel` itself: events are the given ones (with payloads) plus
 * every type some state node handles (delays), offered only where they change something.
 */
export function model(
  machine: AnyStateMachine,
  given: readonly EventObject[],
  serializeState: ReturnType<typeof serializer<never>>,
  // Bounds the graph (e.g. queue lengths) without merging states that behave differently.
  allowed: (context: never, event: EventObject) => boolean = () => true,
  input?: unknown,
) {
  const events = [...given];
  const visit = (node: AnyStateNode): void => {
    for (const type of node.ownEvents as string[]) if (!events.some((e) => e.type === type)) events.push({ type });
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  type Snap = ReturnType<AnyStateMachine['transition']>;
  return new TestModel<Snap, EventObject, unknown>(machine, {
    // Any handled event, including explicit "ignore here" transitions, which `can()` reports as false.
    events: (state: Snap) => (state.status === 'active' ? events.filter((e) => machine.getTransitionData(state, e).length > 0 && allowed(state.context as never, e)) : []),
    serializeState: serializeState as never,
    stateMatcher: (_state: Snap, key: string) => key === '*',
    input,
  });
}

/** Every `onError` and every transition on an error event, read from the machine itself. */
export function failureTransitions(machine: AnyStateMachine, errorEvents: readonly string[]): AnyTransitionDefinition[] {
  const out: AnyTransitionDefinition[] = [];
  const visit = (node: AnyStateNode): void => {
    for (const [type, defs] of node.transitions) {
      if (type.startsWith('xstate.error.actor.') || errorEvents.includes(type)) out.push(...defs);
    }
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return out;
}

export function describeTransition(t: AnyTransitionDefinition): string {
  return `${t.source.id} on ${t.eventType}${t.guard !== undefined ? ` [${JSON.stringify(t.guard)}]` : ''} → ${(t.target ?? []).map((n) => n.id).join(',')}`;
}

/** The transitions a path takes, step by step. */
export function transitionsTaken(machine: AnyStateMachine, paths: readonly Path[]): Set<AnyTransitionDefinition> {
  const taken = new Set<AnyTransitionDefinition>();
  for (const path of paths) {
    for (let i = 1; i < path.steps.length; i++) {
      const prev = path.steps[i - 1];
      const step = path.steps[i];
      if (prev === undefined || step === undefined) continue;
      for (const t of machine.getTransitionData(prev.state as never, step.event)) taken.add(t);
    }
  }
  return taken;
}

export function assertFailuresCovered(machine: AnyStateMachine, errorEvents: readonly string[], paths: readonly Path[]): void {
  const taken = transitionsTaken(machine, paths);
  const missing = failureTransitions(machine, errorEvents).filter((t) => !taken.has(t));
  assert.deepEqual(missing.map(describeTransition), [], 'failure transitions on no walked path');
}

/** Runs one path with a single executor for every event type and one check after each step. */
export async function walk<E extends EventObject>(
  m: ReturnType<typeof model>,
  path: Path,
  exec: (event: E) => Promise<void> | void,
  check: (state: { value: StateValue; context: unknown }) => void,
): Promise<void> {
  const types = new Set(path.steps.map((s) => s.event.type));
  const events = Object.fromEntries([...types].map((t) => [
    t,
    async (step: { event: EventObject }) => {
      if (step.event.type !== 'xstate.init') await exec(step.event as E);
      await settle();
    },
  ]));
  const params = { events, states: { '*': check } } as unknown as TestParam<ReturnType<AnyStateMachine['transition']>, EventObject>;
  await m.testPath(path, params);
}

/** What a prepare could find: a server's capabilities, distinct by `version` so a test can tell two prepares' apart. */
export function capabilities(version = '7.0.0'): Capabilities {
  return {
    transactions: false,
    decimal128: true,
    nestedArrays: true,
    dottedKeys: true,
    ferretdb: undefined,
    version,
    topology: { kind: 'standalone' },
    writeConcern: { accepted: { w: 1 }, source: 'probe', refused: [], enforced: true },
  };
}

export const transientError = new StepError({ code: driverCode('ECONNRESET'), errorClass: 'transient', message: 'connection reset' });
export const permanentError = new StepError({ code: driverCode('MONGO_121'), errorClass: 'permanent', message: 'document failed validation' });

/** For every invoke in the machine: its done event and a transient and a permanent rejection. */
export function invokeEvents(machine: AnyStateMachine, output: (invokeId: string) => unknown = () => undefined): EventObject[] {
  const out: EventObject[] = [];
  const visit = (node: AnyStateNode): void => {
    for (const inv of node.invoke) {
      out.push({ type: `xstate.done.actor.${inv.id}`, output: output(inv.id) } as EventObject);
      for (const error of [transientError, permanentError]) out.push({ type: `xstate.error.actor.${inv.id}`, error } as EventObject);
    }
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return out;
}

export function errorOfEvent(event: EventObject): unknown {
  return (event as { error?: unknown }).error;
}

/** A short test name: the events of the path, without xstate's prefixes and invoke ids. */
export function label(path: Path): string {
  const short = (e: EventObject): string => {
    const m = /^xstate\.(done|error|after)\.(?:actor\.)?(?:\d+\.)?(?:([\w]+)\.)?.*?([\w]+)$/.exec(e.type);
    const kind = m === null ? e.type : `${m[1]}(${m[3]})`;
    const info = (e as { error?: { info?: { errorClass?: string } } }).error?.info?.errorClass ?? (e as { error?: { errorClass?: string } }).error?.errorClass;
    return info === undefined ? kind : `${kind}:${info}`;
  };
  return `${JSON.stringify(path.state.value)} ← ${path.steps.slice(1).map((s) => short(s.event)).join(' → ')}`;
}

/**
 * The same machine with no `systemId` on its invokes. Graph traversal spawns children into one
 * shared mock system, where a second child under the same systemId throws; the real walk keeps them.
 */
export function withoutSystemIds<M extends AnyStateMachine>(machine: M): M {
  type Node = { invoke?: unknown; states?: Record<string, Node> };
  const strip = (node: Node): Node => {
    const invoke = node.invoke === undefined ? undefined : (Array.isArray(node.invoke) ? node.invoke : [node.invoke]).map((i) => {
      const rest: Record<string, unknown> = { ...(i as Record<string, unknown>) };
      delete rest.systemId;
      return rest;
    });
    const states = node.states === undefined ? undefined : Object.fromEntries(Object.entries(node.states).map(([k, v]) => [k, strip(v)]));
    return { ...node, ...(invoke === undefined ? {} : { invoke }), ...(states === undefined ? {} : { states }) };
  };
  return createMachine(strip(machine.config as Node) as never, machine.implementations as never) as unknown as M;
}
