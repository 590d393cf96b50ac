import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { blockScript, docBlocks, type DocBlock, type ServiceState } from '../support/doc-blocks.js';
import { freePort } from '../support/ports.js';
import { Managed } from '../support/processes.js';
import { logText, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Read in this order: set up the source, deploy, watch, repair. */
const DOCS = ['settings.md', 'deploy.md', 'monitoring.md', 'troubleshooting.md'];
const PIPELINE = 'main'; // deploy/sdl.example.yml
const DOC_PORT = '127.0.0.1:9464';

function doc(name: string): string {
  return readFileSync(join(ROOT, 'docs', name), 'utf8');
}

/**
 * Every ```sh command of the runbook, run in order against the sandbox servers as an operator
 * would on a host. What the test maps, and nothing else: the host paths the docs name (/opt,
 * /etc/sdl, /etc/systemd, /usr/local/bin, /tmp) to directories of its own, `sudo` to running the
 * command as this user, `127.0.0.1:9464` to the port the service listens on here, `mariadb` to the
 * sandbox server (~/.my.cnf), and `systemctl start/stop sdl` (text in the docs, a directive for
 * the test) to starting the installed unit's ExecStart with its EnvironmentFile, and SIGTERM.
 * The "edit /etc/sdl/sdl.env" step is the env file the test writes before deploy.md runs.
 */
describe('the runbook (docs/*.md): every shell command runs', () => {
  let stack: Stack;
  let root: string;
  let httpAddr: string;
  let service: Managed | undefined;
  let serviceLog: string;
  let env: NodeJS.ProcessEnv;

  const rewrite = (command: string): string =>
    command
      .replace(/(^|[\s'"=(])(\/opt|\/etc\/sdl|\/etc\/systemd|\/usr\/local\/bin|\/tmp)(?=[/\s'";)]|$)/gm, (_m, pre: string, path: string) => `${pre}${root}${path}`)
      .replaceAll(DOC_PORT, httpAddr);

  /** The installed unit's ExecStart, with its EnvironmentFile: what `systemctl start sdl` runs. */
  function unitCommand(): { command: string; args: string[]; env: Record<string, string> } {
    const unit = readFileSync(`${root}/etc/systemd/system/sdl.service`, 'utf8');
    const value = (key: string): string => {
      const m = new RegExp(`^${key}=(.*)$`, 'm').exec(unit);
      assert.ok(m?.[1] !== undefined, `sdl.service has no ${key}`);
      return m[1];
    };
    const [exe, ...args] = rewrite(value('ExecStart')).split(/\s+/);
    assert.equal(exe, '/usr/bin/node', 'ExecStart runs /usr/bin/node');
    const vars: Record<string, string> = {};
    for (const line of readFileSync(rewrite(value('EnvironmentFile')), 'utf8').split('\n')) {
      const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
      if (m?.[1] !== undefined && m[2] !== undefined) vars[m[1]] = m[2].replace(/^'(.*)'$|^"(.*)"$/, '$1$2');
    }
    return { command: process.execPath, args, env: vars };
  }

  async function ready(): Promise<boolean> {
    return fetch(`http://${httpAddr}/readyz`).then((r) => r.status === 200, () => false);
  }

  async function ensure(state: ServiceState): Promise<void> {
    if (state === 'stopped') {
      if (service === undefined) return;
      const exited = service.exited();
      await service.stop(90_000); // the unit's TimeoutStopSec
      assert.equal(await exited, 0, `the service did not stop cleanly:\n${logText(serviceLog).slice(-3000)}`);
      service = undefined;
      return;
    }
    if (service !== undefined) return;
    const unit = unitCommand();
    service = new Managed(stack.scratch, { name: 'sdl-service', command: unit.command, args: unit.args, logFile: serviceLog, env: { PATH: process.env['PATH'], ...unit.env } });
    service.start();
    const deadline = Date.now() + 120_000;
    while (!(await ready())) {
      if (!service.running || Date.now() > deadline) throw new Error(`the service did not become ready:\n${logText(serviceLog).slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    // Streaming, not only the snapshot: a change made now reaches the checkpoint.
    const conn = await stack.mariadb.connect();
    try {
      await conn.query("INSERT INTO shop.orders (note) VALUES ('after start')");
    } finally {
      await conn.end();
    }
    await waitForCatchUp(stack, PIPELINE, 60_000);
  }

  async function runBlock(block: DocBlock): Promise<void> {
    if (block.service !== undefined) await ensure(block.service);
    const script = blockScript(block, rewrite);
    await new Promise<void>((resolve, reject) => {
      execFile('bash', ['-c', script], { cwd: ROOT, env, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err === null) resolve();
        else reject(new Error(`${block.file}:${block.line}: ${stderr.split('\n').filter((l) => l.startsWith('doc test:')).join('\n') || err.message}\n--- stdout\n${stdout.slice(-3000)}\n--- stderr\n${stderr.slice(-3000)}\n--- service log\n${logText(serviceLog).slice(-2000)}`));
      });
    });
  }

  before(async () => {
    stack = await startStack();
    root = stack.scratch.path('host');
    serviceLog = stack.scratch.path('sdl-service.log');
    httpAddr = `127.0.0.1:${await freePort()}`;
    for (const d of ['bin', 'home', 'tmp', 'opt', 'etc/sdl', 'etc/systemd/system', 'usr/local/bin']) mkdirSync(`${root}/${d}`, { recursive: true });
    // sudo: this test runs as whoever runs it; `sudo VAR=value cmd` keeps working through env.
    writeFileSync(`${root}/bin/sudo`, '#!/bin/sh\nexec env "$@"\n', { mode: 0o755 });
    writeFileSync(`${root}/home/.my.cnf`, `[client]\nhost=127.0.0.1\nport=${stack.mariadb.port}\nuser=root\n`);
    // The operator's edit of /etc/sdl/sdl.env: the user docs/settings.md creates, the sandbox MongoDB.
    writeFileSync(`${root}/etc/sdl/sdl.env`, [
      `SDL_MYSQL_URL='mysql://sdl:CHANGE-ME@127.0.0.1:${stack.mariadb.port}'`,
      `SDL_MONGO_URL='${stack.mongo.url}'`,
      `SDL_HTTP_ADDR='${httpAddr}'`,
    ].join('\n') + '\n', { mode: 0o600 });
    const conn = await stack.mariadb.connect();
    try {
      await conn.query('CREATE DATABASE shop');
      await conn.query('CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(40) NOT NULL)');
      await conn.query("INSERT INTO shop.orders (note) VALUES ('one'), ('two'), ('three')");
    } finally {
      await conn.end();
    }
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SDL_') && !k.startsWith('MYSQL')));
    env = {
      ...inherited,
      PATH: `${root}/bin:${root}/usr/local/bin:${process.env['PATH'] ?? ''}`,
      HOME: `${root}/home`,
      // Where /usr/local/bin/sdl (deploy/sdl) finds the install, its settings and node.
      SDL_HOME: `${root}/opt/sdl`,
      SDL_ENV_FILE: `${root}/etc/sdl/sdl.env`,
      SDL_CONFIG_FILE: `${root}/etc/sdl/sdl.yml`,
      SDL_NODE: process.execPath,
    };
  });

  after(async () => {
    await service?.stop(90_000);
    await stack?.stop();
  });

  it('the docs hold commands for the test to run', () => {
    const blocks = DOCS.flatMap((f) => docBlocks(f, doc(f)));
    for (const f of DOCS) assert.ok(blocks.some((b) => b.file === f && b.commands.length > 0), `${f} has no sh commands`);
    const commands = blocks.reduce((n, b) => n + b.commands.length, 0);
    assert.ok(commands >= 25, `only ${commands} commands`);
    const tags = new Set(blocks.map((b) => b.lang));
    for (const t of tags) assert.ok(t === 'sh' || t === 'text', `a block tagged "${t}": use sh (run) or text (not run)`);
  });

  for (const file of DOCS) {
    it(`docs/${file}`, async () => {
      for (const block of docBlocks(file, doc(file))) if (block.lang === 'sh' || block.service !== undefined) await runBlock(block);
    });
  }

  it('docs/monitoring.md names every metric /metrics serves, and no metric it does not', async () => {
    await ensure('running');
    const text = await (await fetch(`http://${httpAddr}/metrics`)).text();
    const served = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] ?? '');
    assert.ok(served.includes('sdl_lag_seconds'), text.slice(0, 500));
    const page = doc('monitoring.md');
    const missing = served.filter((name) => !new RegExp(`\`${name}[\`{]`).test(page));
    assert.deepEqual(missing, [], `metrics served but not in docs/monitoring.md: ${missing.join(', ')}`);
    const named = new Set([...page.matchAll(/`(sdl_[a-z0-9_]+)[`{]/g)].map((m) => m[1] ?? ''));
    const unknown = [...named].filter((n) => !served.includes(n));
    assert.deepEqual(unknown, [], `docs/monitoring.md names metrics /metrics does not serve: ${unknown.join(', ')}`);
  });

  it('docs/monitoring.md describes every alert of deploy/prometheus/sdl-rules.yml', () => {
    const rules = parseYaml(readFileSync(join(ROOT, 'deploy/prometheus/sdl-rules.yml'), 'utf8')) as { groups: { rules: { alert?: string }[] }[] };
    const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a): a is string => a !== undefined);
    assert.ok(alerts.length > 0);
    const page = doc('monitoring.md');
    const missing = alerts.filter((a) => !new RegExp(`^### ${a}$`, 'm').test(page));
    assert.deepEqual(missing, [], `alerts without a "### <name>" section in docs/monitoring.md: ${missing.join(', ')}`);
  });
});
