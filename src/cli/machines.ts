import { batcherMachine } from '../machines/batcher.js';
import { committerMachine } from '../machines/committer.js';
import { readerMachine } from '../machines/reader.js';
import { supervisorMachine } from '../machines/supervisor.js';

/** The four machines by the name they are known by in logs, metrics and the dashboard. */
export const MACHINE_ROOTS = {
  supervisor: supervisorMachine,
  reader: readerMachine,
  batcher: batcherMachine,
  committer: committerMachine,
} as const;

/** A state node's printed definition, with its children. */
interface Definition {
  id: string;
  states?: Record<string, Definition>;
  always?: unknown[];
}

/**
 * Every statechart's definition as JSON, for visualisers (paste into the Stately editor). XState's
 * own definition leaves out eventless (`always`) transitions; they are added to each state here,
 * so what is printed is the whole graph.
 */
export function machineDefinitions(): Record<string, unknown> {
  return Object.fromEntries(Object.entries(MACHINE_ROOTS).map(([name, m]) => {
    const printed = JSON.parse(JSON.stringify(m.root.definition)) as Definition;
    const addAlways = (def: Definition): void => {
      const always = m.getStateNodeById(def.id).always ?? [];
      if (always.length > 0) def.always = JSON.parse(JSON.stringify(always)) as unknown[];
      for (const child of Object.values(def.states ?? {})) addAlways(child);
    };
    addAlways(printed);
    return [name, printed];
  }));
}
