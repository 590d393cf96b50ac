import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { missingTool } from '../support/requires.js';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { streamFromHere } from '../support/binlog.js';
import { shopWorkload, sleep } from '../support/fault-run.js';
import { freePort } from '../support/ports.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { BackgroundWorkload } from '../support/workload.js';

/** Debian's chromium; the test never downloads a browser. */
const CHROMIUM = process.env['SDL_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

/** What a person reads off the page right now. */
interface Seen {
  conn: string;
  connText: string;
  current: Record<string, string>;
  lag: string;
  rate: string;
  rates: string[][];
  errors: string[][];
  staged: string;
  lease: string;
  snapshotShown: boolean;
  snapshotTables: string[][];
}

/**
 * Runs in the page (as text: the project's TypeScript has no DOM types): the machines' lit
 * states, the numbers and the tables, as a person would read them.
 */
const READ_PAGE = `(() => {
  const text = (sel) => (document.querySelector(sel) || {}).textContent || '';
  const current = {};
  for (const m of document.querySelectorAll('[data-machine]')) {
    const c = m.querySelector('[data-current]');
    current[m.dataset.machine] = c ? c.dataset.current : '';
  }
  const table = (id) => [...document.querySelectorAll('#' + id + ' tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent || ''));
  return {
    conn: document.getElementById('conn').dataset.state,
    connText: text('#conn'),
    current,
    lag: text('#lag-now'),
    rate: text('#rate-total'),
    rates: table('rates'),
    errors: table('errors'),
    staged: text('#staged'),
    lease: text('#lease-owner'),
    snapshotShown: !document.getElementById('snapshot').hidden,
    snapshotTables: table('snapshot-tables'),
  };
})()`;

/** Every lag figure the page showed, in order: the test asserts it moved. */
const lagsShown: number[] = [];

async function look(page: Page): Promise<Seen> {
  const seen = (await page.evaluate(READ_PAGE)) as Seen;
  if (seen.lag !== '–' && seen.lag !== '') lagsShown.push(num(seen.lag));
  return seen;
}

const num = (s: string): number => Number(s.replace(/,/g, ''));

/** Looks at the page every 250 ms until `ok` holds; fails with the last view and what was awaited. */
async function until(page: Page, what: string, ok: (s: Seen) => boolean, timeoutMs = 60_000, sdl?: SdlProcess): Promise<Seen> {
  const deadline = Date.now() + timeoutMs;
  let seen = await look(page);
  while (!ok(seen)) {
    if (sdl !== undefined && !sdl.running) assert.fail(`sdl exited while waiting for ${what}:\n${sdl.logs().slice(-3000)}`);
    if (Date.now() > deadline) assert.fail(`the dashboard never showed ${what}; it showed ${JSON.stringify(seen)}`);
    await sleep(250);
    seen = await look(page);
  }
  return seen;
}

describe('dashboard page in a real browser', () => {
  let stack: Stack;
  let browser: Browser | undefined;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('shows the machines lit live, the committer retrying while MongoDB is down, and numbers that move under load', async (t) => {
    if (!existsSync(CHROMIUM)) return missingTool(t, `no Chromium at ${CHROMIUM} (Debian package chromium; .ci/run installs it)`);
    if (!stack.mongo.controllable) return t.skip('SDL_TEST_MONGO_URL server cannot be stopped by the harness');
    const { conn, workload } = await shopWorkload(stack, 53);
    await streamFromHere(stack, 'dash');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'dash', include: 'shop', env: { SDL_HTTP_ADDR: `127.0.0.1:${port}` } });
    sdl.start();
    await sdl.leaseAcquired();

    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1500 });
    // Everything the page loads comes from sdl itself: no CDN, no other host.
    const foreign: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base)) foreign.push(r.url());
    });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });

    const first = await until(page, 'a live stream with every machine lit', (s) => s.conn === 'live' && s.current['supervisor'] === 'active.running.healthy' && s.current['reader'] === 'online.streaming' && s.current['committer'] !== '', 60_000, sdl);
    assert.deepEqual(Object.keys(first.current).sort(), ['batcher', 'committer', 'reader', 'supervisor'], 'four statecharts are drawn');
    const drawn = (await page.evaluate(`document.querySelectorAll('[data-machine="committer"] .state').length`)) as number;
    assert.ok(drawn >= 7, `the committer's states are drawn from its definition (${drawn} boxes)`);
    await until(page, 'this instance as the lease holder', (s) => s.lease.includes('(this instance)'), 30_000, sdl);

    // Under load: rows/s by table and op rise above zero; lag shows a number and changes.
    const bg = new BackgroundWorkload(workload, 2);
    const loaded = await until(page, 'rows/s above zero with per-table rows', (s) => num(s.rate) > 0 && s.rates.some((r) => r[0] === 'shop.customers' && r[1] === 'insert' && num(r[2] ?? '0') > 0), 60_000, sdl);
    const lags = new Set<string>();
    const rates = new Set<string>();
    for (let i = 0; i < 24 && (lags.size < 2 || rates.size < 2); i++) {
      const s = await look(page);
      lags.add(s.lag);
      rates.add(s.rate);
      await sleep(500);
    }
    assert.ok(rates.size >= 2, `rows/s moved under load: ${[...rates].join(', ')}`);
    t.diagnostic(`under load: ${loaded.rate} rows/s; lag values seen ${[...lags].join(', ')}`);

    // MongoDB stops: the committer's lit state becomes its backoff, the supervisor degraded.
    await stack.mongo.stop();
    const down = await until(page, 'the committer in backoff and the supervisor degraded', (s) => s.current['committer'] === 'backoff' && s.current['supervisor'] === 'active.running.degraded', 60_000, sdl);
    assert.equal(down.conn, 'live', 'the page stays connected to sdl during a MongoDB outage');
    const retrying = await until(page, 'the committer error with its class and retry count', (s) => s.errors.some((e) => e[0] === 'committer' && e[2] === 'transient' && num(e[3] ?? '0') >= 1 && (e[4] ?? '').includes('retrying')), 30_000, sdl);
    // The committer alternates between a retry attempt (writing, up to the server selection
    // timeout) and backoff: look until a frame shows it backing off, then exactly that box is lit.
    let lit: string[] = [];
    for (let i = 0; i < 60; i++) {
      lit = (await page.evaluate(`[...document.querySelectorAll('[data-machine="committer"] .state.lit')].map((e) => e.dataset.path)`)) as string[];
      if (lit.includes('backoff')) break;
      await sleep(500);
    }
    assert.deepEqual(lit, ['backoff'], 'only the backoff box of the committer is lit');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard-outage.png`, fullPage: true });
    t.diagnostic(`during the outage: ${JSON.stringify(retrying.errors[0])}; screenshot ${ARTIFACTS}dashboard-outage.png`);
    await sleep(4000);

    const beforeRestart = lagsShown.length;
    // MongoDB back: the committer leaves backoff, the supervisor is healthy, the error is recovered,
    // and the lag of the batches held up by the outage shows.
    await stack.mongo.start();
    const back = await until(page, 'the committer past backoff and the supervisor healthy', (s) => s.current['committer'] !== 'backoff' && s.current['committer'] !== '' && s.current['supervisor'] === 'active.running.healthy', 120_000, sdl);
    assert.notEqual(back.current['committer'], 'failed');
    await until(page, 'the committer error marked recovered', (s) => s.errors.some((e) => e[0] === 'committer' && (e[4] ?? '').includes('recovered')), 30_000, sdl);
    // Seen at any look since MongoDB came back (the figure drops again as sdl catches up).
    await until(page, 'the lag of the held-up batches', () => Math.max(...lagsShown.slice(beforeRestart)) >= 3, 60_000, sdl);
    assert.ok(new Set(lagsShown).size >= 2, `lag moved: ${[...new Set(lagsShown)].join(', ')}`);
    const stats = await bg.stop();
    await waitForCatchUp(stack, 'dash', 180_000, sdl);
    // Caught up: MongoDB (read every 5 s) has no staged batch left pending; then the screenshot for the note.
    const final = await until(page, 'an empty staging backlog', (s) => s.staged === '0 batches' && s.errors.every((e) => (e[4] ?? '').includes('recovered')), 30_000, sdl);
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    t.diagnostic(`screenshot: ${ARTIFACTS}dashboard.png (${stats.transactions} transactions; lag ${final.lag} s; staged ${final.staged})`);
    console.log(`dashboard screenshot: ${ARTIFACTS}dashboard.png`);

    // sdl stops: the page says so instead of showing stale numbers as live.
    assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    const gone = await until(page, 'that the stream is disconnected', (s) => s.conn === 'down', 30_000);
    assert.match(gone.connText, /disconnected/);
    assert.equal(await page.evaluate(`document.body.classList.contains('stale')`), true, 'the numbers are greyed out as stale');
    await page.screenshot({ path: `${ARTIFACTS}dashboard-disconnected.png`, fullPage: true });

    assert.deepEqual(foreign, [], 'the page loaded nothing from other hosts');
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
    await conn.end();
  });

  it('shows an initial snapshot copying, table by table, then the stream', async (t) => {
    if (!existsSync(CHROMIUM)) return missingTool(t, `no Chromium at ${CHROMIUM} (Debian package chromium; .ci/run installs it)`);
    const conn = await stack.mariadb.connect();
    await conn.query("CREATE DATABASE snapdash; CREATE TABLE snapdash.big (id INT PRIMARY KEY, pad VARCHAR(100)); INSERT INTO snapdash.big SELECT seq, REPEAT('x', 100) FROM snapdash.seq_1_to_6000");
    await conn.end();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // Small chunks so the copy lasts long enough to be watched.
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'snapdash', include: 'snapdash', name: 'sdl-snap', env: { SDL_HTTP_ADDR: `127.0.0.1:${port}`, SDL_SNAPSHOT_CHUNK_ROWS: '50' } });
    sdl.start();
    browser ??= await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1200 });
    // sdl may not listen yet: load the page once it answers.
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/`).then((r) => r.ok, () => false);
      if (ok) break;
      assert.ok(i < 600 && sdl.running, `sdl never served the dashboard:\n${sdl.logs().slice(-2000)}`);
      await sleep(100);
    }
    await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
    const copying = await until(page, 'the snapshot panel with the table being copied', (s) => s.snapshotShown && s.snapshotTables.some((r) => r[0] === 'snapdash.big' && num(r[1] ?? '0') > 0), 120_000, sdl);
    assert.equal(copying.current['supervisor'], 'starting', 'the supervisor is still starting while the snapshot copies');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard-snapshot.png`, fullPage: true });
    t.diagnostic(`snapshot seen: ${JSON.stringify(copying.snapshotTables)}; screenshot ${ARTIFACTS}dashboard-snapshot.png`);
    await until(page, 'the snapshot done and the reader streaming', (s) => !s.snapshotShown && s.current['reader'] === 'online.streaming', 300_000, sdl);
    assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    await page.close();
  });
});
