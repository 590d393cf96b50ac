import { pino, type Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import { actorName } from './machines/system.js';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { svc: 'sdl' },
    // Connection strings carry passwords; never let one reach a log line.
    redact: { paths: ['*.password', '*.url', 'url', 'password', 'config.mysql.url', 'config.mongo.url'], censor: '***' },
  });
}

/**
 * An XState inspector that writes one log line per state change of every machine in the tree
 * (the same stream the live inspector would show).
 */
export function transitionLogger(log: Logger): (ev: InspectionEvent) => void {
  const last = new Map<string, string>();
  return (ev) => {
    if (ev.type !== '@xstate.snapshot') return;
    const snap = ev.snapshot as { value?: unknown; status?: string };
    if (snap.value === undefined) return;
    const actor = ev.actorRef as unknown as { id: string };
    const name = actorName(actor);
    const state = JSON.stringify(snap.value);
    if (last.get(actor.id) === state) return;
    const from = last.get(actor.id);
    last.set(actor.id, state);
    const event = ev.event as { type?: string; error?: unknown };
    // Failure events carry what went wrong: the line that says a machine backed off says why.
    log.info({ machine: name, from: from === undefined ? undefined : JSON.parse(from) as unknown, to: snap.value, event: event.type, ...(event.error === undefined ? {} : { error: event.error }) }, 'transition');
  };
}
