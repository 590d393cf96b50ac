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

/** Every statechart's definition as JSON, for visualisers (paste into the Stately editor). */
export function machineDefinitions(): Record<string, unknown> {
  return Object.fromEntries(Object.entries(MACHINE_ROOTS).map(([name, m]) => [name, m.root.definition]));
}
