import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { caseArb, refusalArb, type RefusalChoice } from '../support/gen/choices.js';
import { runGenerative } from '../support/gen/property.js';
import { runRefusalCase } from '../support/gen/run-case.js';
import { enabled } from '../support/gen/switches.js';
import { startStack, type Stack } from '../support/stack.js';

const KINDS: RefusalChoice['kind'][] = [
  ...(enabled('refuseStatementFormat') ? (['statementFormat'] as const) : []),
  ...(enabled('refusePartialImage') ? (['partialImage'] as const) : []),
  ...(enabled('refusePrimaryKeyChange') ? (['primaryKeyChange'] as const) : []),
];
const CASES = Number(process.env['SDL_GEN_REFUSAL_CASES'] ?? 6);

/** Shapes sdl must refuse loudly: exit 1, the agreed code, the table and GTID named, no checkpoint past it. */
describe('generative: shapes sdl must refuse loudly', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('statement-format DML, partial row images and primary-key changes stop sdl with their code', async () => {
    // Every refusal kind is enabled; switching them all off must not pass silently.
    assert.ok(KINDS.length > 0, 'no refusal kind is enabled (test/support/gen/switches.ts: refuse*)');
    const arb = fc
      .tuple(caseArb({ maxSteps: 4, faultKinds: [], maxFaults: 0 }), refusalArb(KINDS))
      .map(([c, refusal]) => ({ ...c, refusal }));
    const result = await runGenerative({
      name: 'refuse',
      file: 'refusals.test.js',
      arb,
      run: (c, db, stats) => runRefusalCase(stack, c, db, stats),
      numRuns: CASES,
      soak: false,
    });
    console.log(result.summary);
    for (const f of result.failures) console.log(f);
    assert.equal(result.failures.length, 0, result.failures.join('\n\n'));
  });
});
