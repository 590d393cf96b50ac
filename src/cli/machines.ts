import { batcherMachine } from '../machines/batcher.js';
import { committerMachine } from '../machines/committer.js';
import { readerMachine } from '../machines/reader.js';
import { supervisorMachine } from '../machines/supervisor.js';

/** Every statechart's definition as JSON, for visualisers (paste into the Stately editor). */
export function machineDefinitions(): Record<string, unknown> {
  return {
    supervisor: supervisorMachine.root.definition,
    reader: readerMachine.root.definition,
    batcher: batcherMachine.root.definition,
    committer: committerMachine.root.definition,
  };
}
