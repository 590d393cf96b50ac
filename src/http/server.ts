import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface Health {
  /** Process is alive and its machines are not failed. */
  live(): boolean;
  /** Streaming: past recovery and not degraded. */
  ready(): { ready: boolean; state: string };
}

/**
 * `/metrics` (Prometheus), `/healthz`, `/readyz`, and `/status` (JSON, what `sdl status` asks a
 * running instance); bound to 127.0.0.1 unless configured otherwise.
 */
export async function startHttp(addr: string, registry: Registry, health: Health, status?: () => Promise<unknown>): Promise<Server | undefined> {
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
