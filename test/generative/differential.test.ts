import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { caseArb, type FaultKind } from '../support/gen/choices.js';
import { runGenerative } from '../support/gen/property.js';
import { runCase } from '../support/gen/run-case.js';
import { enabled } from '../support/gen/switches.js';
import { startStack, type Stack } from '../support/stack.js';

const FAULTS: readonly FaultKind[] = ['kill-sdl', 'mongo-kill', 'mongo-stop', 'mariadb-restart', 'flush-logs', 'purge-logs'];
const CASES = Number(process.env['SDL_GEN_CASES'] ?? 60);

/**
 * Generated schemas (every type and key kind), DML/DDL programs and fault schedules, each in
 * its own source database and sdl pipeline; the oracle is the verifier reading both servers
 * plus exact event-log counts from the generator's model. Failures print a replayable seed.
 */
describe('generative differential testing against real servers', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('generated programs with faults mirror exactly and log each row change once', async () => {
    const result = await runGenerative({
      name: 'gen',
      file: 'differential.test.js',
      arb: caseArb({ maxSteps: 14, faultKinds: FAULTS, maxFaults: 2 }),
      run: (c, db, stats) => runCase(stack, c, db, stats),
      numRuns: CASES,
    });
    console.log(result.summary);
    for (const f of result.failures) console.log(f);
    assert.equal(result.failures.length, 0, result.failures.join('\n\n'));
    // The shapes must really occur, not only be generated: counted from staging and the CLI.
    if (result.cases >= 30 && process.env['SDL_SEED'] === undefined) {
      if (enabled('slicedTransactions')) assert.ok((result.shapes.slices ?? 0) > 0, `no case streamed a transaction in slices: ${result.summary}`);
      if (enabled('onlineResnapshot')) assert.ok((result.shapes.resnapshots ?? 0) > 0, `no case completed an online re-snapshot: ${result.summary}`);
      if (enabled('snapshotFirst')) assert.ok((result.shapes.initialSnapshots ?? 0) > 0, `no case started sdl without a checkpoint: ${result.summary}`);
      // sdl's own copies after rowless DDL, not rows the generator rewrote. Each kind occurs about
      // 3 times in 60 cases, so one of them is absent from a run often enough (~14%) to make a
      // per-kind assertion flaky; together (~10) they are never absent unless the mechanism is
      // broken. Each kind is asserted deterministically by test/e2e/rowless-ddl.
      const copies = (['alterRewritesMirror', 'partitionDdl', 'renameSwapIn'] as const).filter(enabled).length;
      if (copies > 0) assert.ok((result.shapes.alterCopies ?? 0) + (result.shapes.partitionCopies ?? 0) + (result.shapes.renameCopies ?? 0) > 0, `no rowless DDL made sdl copy a table: ${result.summary}`);
    }
  });
});
