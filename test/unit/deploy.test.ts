import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { missingTool } from '../support/requires.js';
import { describe, it } from 'node:test';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));

async function has(tool: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${tool}`]).then(() => true, () => false);
}

/** What ships in deploy/ is checked by the tools that will read it. */
describe('deployment files', () => {
  it('the Prometheus alert rules load and fire as their unit tests say (promtool)', async (t) => {
    if (!(await has('promtool'))) return missingTool(t, 'promtool is not installed (Debian package prometheus; .ci/run installs it)');
    const check = await run('promtool', ['check', 'rules', 'deploy/prometheus/sdl-rules.yml'], { cwd: root });
    assert.match(check.stdout, /SUCCESS: \d+ rules found/);
    const tested = await run('promtool', ['test', 'rules', 'sdl-rules.test.yml'], { cwd: `${root}deploy/prometheus` });
    assert.match(tested.stdout, /SUCCESS/);
  });

  it('the systemd unit passes systemd-analyze verify', async (t) => {
    if (!(await has('systemd-analyze'))) return missingTool(t, 'systemd-analyze is not installed');
    const { stderr } = await run('systemd-analyze', ['verify', 'deploy/sdl.service'], { cwd: root });
    // verify exits 0 on warnings too: any line it prints about the unit is a finding.
    assert.equal(stderr.split('\n').filter((l) => l.includes('sdl.service')).join('\n'), '');
  });
});
