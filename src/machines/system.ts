import type { ActorSystem, AnyActorRef } from 'xstate';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- ActorSystem's parameter is xstate's own
type AnySystem = ActorSystem<any>;

/** The long-lived actors, registered by systemId so siblings reach each other by name. */
export type SystemId = 'supervisor' | 'reader' | 'batcher' | 'committer';

/**
 * A `sendTo` target resolving a sibling by systemId. For a missing one xstate would send the
 * event to the sender itself, which ignores it, and the pipeline would sit in `running` doing
 * nothing: the send fails instead, which fails the sending actor, and its parent's `onError`
 * decides. It fails on delivery, not on resolution, so graph traversal (which never delivers)
 * walks the machines without a system.
 */
export function sibling(id: SystemId): (args: { system: AnySystem; self?: AnyActorRef }) => AnyActorRef {
  return ({ system, self }) => (system.get(id) as AnyActorRef | undefined) ?? missing(id, self === undefined ? 'an actor' : actorName(self));
}

function missing(id: SystemId, from: string): AnyActorRef {
  const fail = (): never => {
    throw new Error(`${from} sent to ${id}, which is not in the actor system`);
  };
  return { id: `missing:${id}`, sessionId: `missing:${id}`, send: fail, _send: fail } as unknown as AnyActorRef;
}

/** The name a machine is known by in logs and metrics: its systemId (reader, committer…) or, failing that, its id. */
export function actorName(ref: unknown): string {
  const actor = ref as { id: string; systemId?: string };
  return actor.systemId ?? actor.id;
}

/**
 * A state value as text: `writing`, `online.connecting` for a nested value, parts joined by
 * commas for parallel regions (logs, `/status`, stall warnings).
 */
export function dottedState(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).map(([k, v]) => `${k}.${dottedState(v)}`).join(',');
  }
  return String(value);
}
