import { setFlagsFromString } from 'node:v8';

/**
 * Sets how far V8 lets the heap grow past what its last full collection left live. V8 reads the
 * factor at every full collection, so setting it after start works (heap size flags do not).
 * A `--heap-growing-percent` given to node itself wins: it is the operator's.
 */
export function applyHeapGrowth(percent: number): void {
  if (percent === 0 || process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) return;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
