/**
 * Test-only crash points. `SDL_FAULT=<point>` kills the process at that point with exit code
 * 137 (what a kill -9 looks like to a supervisor); `SDL_FAULT=<point>:throw` throws instead, so
 * an in-process test can stop a commit half-way without losing its runner.
 * `<point>@<n>` fires at the n-th time the process reaches the point (the n-th batch staged…).
 * Inert (one env lookup) when SDL_FAULT is unset.
 */
export class FaultInjected extends Error {
  constructor(readonly point: string) {
    super(`fault injected at ${point}`);
    this.name = 'FaultInjected';
  }
}

const reached = new Map<string, number>();

export function faultPoint(name: string): void {
  const spec = process.env['SDL_FAULT'];
  if (spec === undefined || spec === '') return;
  const times = (reached.get(name) ?? 0) + 1;
  reached.set(name, times);
  for (const entry of spec.split(',')) {
    const [at, mode] = entry.trim().split(':');
    const [point, nth] = (at ?? '').split('@');
    if (point !== name || (nth !== undefined && Number(nth) !== times)) continue;
    if (mode === 'throw') throw new FaultInjected(name);
    process.exit(137);
  }
}
