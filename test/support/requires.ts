import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

/**
 * A tool the test needs is missing. On a developer's box that is a skip with its reason; under
 * CI (`CI` set, as `.ci/run` runs), which installs every such tool, it is a failure, so a missing
 * install step cannot pass as a green run.
 */
export function missingTool(t: TestContext, reason: string): void {
  if (process.env['CI'] !== undefined && process.env['CI'] !== '') assert.fail(`${reason}: CI must install it`);
  t.skip(reason);
}
