import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { DashboardFeed } from './dashboard/feed.js';
import { chartModels } from './dashboard/chart-model.js';
import { PAGE_CSS } from './dashboard/page-css.js';
import { PAGE_HTML } from './dashboard/page-html.js';
import { PAGE_JS } from './dashboard/page-js.js';

export interface Health {
  /** Process is alive and its machines are not failed. */
  live(): boolean;
  /** Streaming: past recovery and not degraded. */
  ready(): { ready: boolean; state: string };
}

/** Static parts of the dashboard: the page, its script and stylesheet, the statecharts it draws. */
const ASSETS: Record<string, { type: string; body: () => string }> = {
  '/': { type: 'text/html; charset=utf-8', body: () => PAGE_HTML },
  '/dashboard.js': { type: 'text/javascript; charset=utf-8', body: () => PAGE_JS },
  '/dashboard.css': { type: 'text/css; charset=utf-8', body: () => PAGE_CSS },
  '/machines.json': { type: 'application/json', body: () => JSON.stringify(chartModels()) },
};

/** What the server adds to health and metrics when the caller has it. */
export interface HttpExtras {
  /** `/status`: JSON, what `sdl status` asks a running instance. */
  status?: () => Promise<unknown>;
  /** The dashboard: `/` and its assets, `/events` as Server-Sent Events. */
  dashboard?: DashboardFeed | undefined;
}

/**
 * `/metrics` (Prometheus), `/healthz`, `/readyz`, `/status` and the dashboard; bound to
 * 127.0.0.1 unless configured otherwise.
 */
export async function startHttp(addr: string, registry: Registry, health: Health, extras: HttpExtras = {}): Promise<Server | undefined> {
  const { status, dashboard } = extras;
  if (addr === 'off') return undefined;
  const colon = addr.lastIndexOf(':');
  const host = addr.slice(0, colon) || '127.0.0.1';
  const port = Number(addr.slice(colon + 1));
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else if (path === '/healthz') {
      const ok = health.live();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok }));
    } else if (path === '/readyz') {
      const r = health.ready();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(r));
    } else if (path === '/status' && status !== undefined) {
      status().then(
        (doc) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc)),
        (err: unknown) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(err) })),
      );
    } else if (dashboard !== undefined && path === '/events') {
      dashboard.subscribe(res);
    } else if (dashboard !== undefined && Object.hasOwn(ASSETS, path)) {
      const asset = ASSETS[path];
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' }).end(asset.body());
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
