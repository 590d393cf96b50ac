import type { ActorSystem, AnyActorRef } from 'xstate';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- ActorSystem's parameter is xstate's own
type AnySystem = ActorSystem<any>;

/** The long-lived actors, registered by systemId so siblings reach each other by name. */
export type SystemId = 'supervisor' | 'reader' | 'batcher' | 'committer';

/** A `sendTo` target resolving a sibling by systemId (throws loudly if it is missing). */
export function sibling(id: SystemId): (args: { system: AnySystem }) => AnyActorRef {
  return ({ system }) => system.get(id) as AnyActorRef;
}

/** The name a machine is known by in logs and metrics: its systemId (reader, committer…) or, failing that, its id. */
export function actorName(ref: unknown): string {
  const actor = ref as { id: string; systemId?: string };
  return actor.systemId ?? actor.id;
}
