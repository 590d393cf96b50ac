import fc from 'fast-check';
import type { CaseChoice, FaultKind } from './choices.js';
import { describeFault, faultPlan, includeOf, programOf, type CaseStats, type Shape } from './run-case.js';
import { programSql } from './program.js';
import { enabledList } from './switches.js';

export interface GenerativeOptions {
  /** Names the property in reports and prefixes its databases. */
  name: string;
  /** The test file, for the replay command. */
  file: string;
  arb: fc.Arbitrary<CaseChoice>;
  run(c: CaseChoice, db: string, stats: CaseStats): Promise<void>;
  /** Cases per `make test` run. */
  numRuns: number;
  /** False: `make soak` runs numRuns cases, not SOAK_MINUTES of them. */
  soak?: boolean;
}

export interface GenerativeResult {
  summary: string;
  failures: string[];
  cases: number;
  /** Shapes that really happened, summed over the cases (CaseStats.shapes). */
  shapes: Partial<Record<Shape, number>>;
}

const SOAK = process.env['SDL_SOAK'] === '1';
const SEED = process.env['SDL_SEED'];
const PATH = process.env['SDL_PATH'];
/** Shrinking re-runs cases against real servers: it stops after this long with the smallest failure so far. */
const SHRINK_MS = Number(process.env['SDL_SHRINK_MS'] ?? (SOAK ? 600_000 : 180_000));
const SOAK_MS = Number(process.env['SOAK_MINUTES'] ?? 60) * 60_000;

/**
 * Runs a property over real servers: a fixed number of cases (`make test`), a time budget
 * (`make soak`: new seeds until SOAK_MINUTES, every failure reported), or one replay
 * (SDL_SEED [+ SDL_PATH]). Each failure is reported with its seed, path and the shrunk case
 * as SQL.
 */
export async function runGenerative(o: GenerativeOptions): Promise<GenerativeResult> {
  const only = process.env['SDL_PROPERTY'];
  if (only !== undefined && only !== '' && only !== o.name) return { summary: `generative ${o.name}: skipped (SDL_PROPERTY=${only})`, failures: [], cases: 0, shapes: {} };
  let cases = 0;
  const faults: Partial<Record<FaultKind, number>> = {};
  const shapes: Partial<Record<Shape, number>> = {};
  const failures: string[] = [];
  const started = Date.now();
  let nextDb = 0;

  const once = async (params: fc.Parameters<[CaseChoice]>): Promise<void> => {
    let failingSince: number | undefined;
    let lastError: unknown;
    let firstError: unknown;
    const prop = fc.asyncProperty(o.arb, async (c) => {
      // Past the shrink budget every candidate "passes", so fast-check ends on the smallest failure found.
      if (failingSince !== undefined && Date.now() - failingSince > SHRINK_MS) return true;
      const db = `${o.name}${nextDb++}`;
      const stats: CaseStats = { faults: {}, statements: 0, shapes: {} };
      cases++;
      try {
        await o.run(c, db, stats);
      } catch (err) {
        failingSince ??= Date.now();
        firstError ??= err;
        lastError = err;
        throw err;
      } finally {
        for (const [k, n] of Object.entries(stats.faults)) faults[k as FaultKind] = (faults[k as FaultKind] ?? 0) + n;
        for (const [k, n] of Object.entries(stats.shapes)) shapes[k as Shape] = (shapes[k as Shape] ?? 0) + n;
      }
      return true;
    });
    const details = await fc.check(prop, params);
    if (!details.failed || details.counterexample === null) return;
    const [c] = details.counterexample;
    const shrinkCut = failingSince !== undefined && Date.now() - failingSince > SHRINK_MS;
    failures.push(report(o, c, details.seed, details.counterexamplePath ?? '', details.numShrinks, shrinkCut, lastError, firstError));
  };

  if (SEED !== undefined && SEED !== '') {
    await once({ seed: Number(SEED), ...(PATH !== undefined && PATH !== '' ? { path: PATH } : { numRuns: o.numRuns }), endOnFailure: false });
  } else if (SOAK && o.soak !== false) {
    while (Date.now() - started < SOAK_MS) {
      await once({ seed: Date.now() ^ (Math.random() * 0x7fffffff), numRuns: 1_000_000, interruptAfterTimeLimit: SOAK_MS - (Date.now() - started), markInterruptAsFailure: false });
    }
  } else {
    await once({ seed: Date.now() ^ (Math.random() * 0x7fffffff), numRuns: o.numRuns });
  }
  const faultText = Object.entries(faults).map(([k, n]) => `${k}=${n}`).join(' ') || 'none';
  const shapeText = Object.entries(shapes).map(([k, n]) => `${k}=${n}`).join(' ') || 'none';
  const summary = `generative ${o.name}: cases=${cases} faults: ${faultText} shapes: ${shapeText} failures=${failures.length} seconds=${Math.round((Date.now() - started) / 1000)}`;
  return { summary, failures, cases, shapes };
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 6000);

function report(o: GenerativeOptions, c: CaseChoice, seed: number, path: string, shrinks: number, shrinkCut: boolean, err: unknown, first: unknown): string {
  const program = programOf(c, `${o.name}_replay`);
  const faults = new Map([...faultPlan(c)].map(([i, fs]) => [i, fs.map(describeFault)]));
  const enable = enabledList();
  const env = `SDL_PROPERTY=${o.name} SDL_SEED=${seed} SDL_PATH=${path}${enable.length > 0 ? ` SDL_GEN_ENABLE=${enable.join(',')}` : ''}`;
  return [
    `generative property "${o.name}" failed`,
    `replay: ${env} make test   (or: npm run build && ${env} node --test dist/test/generative/${o.file})`,
    `shrunk ${shrinks} times${shrinkCut ? ` (stopped at the ${SHRINK_MS / 1000} s shrink budget: smaller cases may exist)` : ''}`,
    `error: ${message(err)}`,
    // A different first error means shrinking drifted (e.g. a server died and every case failed).
    ...(message(first) !== message(err) ? [`first error, before shrinking: ${message(first)}`] : []),
    `-- the shrunk case as SQL (mariadb client, then start sdl with SDL_INCLUDE=${includeOf(program).join(',')}):`,
    programSql(program, faults),
    '-- the choices (JSON):',
    JSON.stringify(c),
  ].join('\n');
}
