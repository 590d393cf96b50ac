import { MongoClient } from 'mongodb';
import type { Config } from '../config/config.js';
import type { LiveStatus } from '../http/live-status.js';
import { readStoredStatus, type StoredStatus } from '../mongo/stored-status.js';
import { describeConcern } from '../mongo/write-concern.js';

/** How long a running instance gets to answer before `sdl status` reads MongoDB instead. */
const INSTANCE_WAIT_MS = 4000;

/**
 * `sdl status` when no instance answered: MongoDB's part under `stored`, where an instance's
 * answer has it too (one jq path either way), and why the instance did not answer.
 */
export interface StoredAnswer {
  source: 'mongodb';
  pipeline: string;
  /** Where an instance was asked, and what happened. */
  instance: string;
  stored: StoredStatus;
}

/**
 * `sdl status [--json]`: asks the running instance at `http.addr` (`GET /status`: live machine
 * states, lag, rates, the last error, the lease holder, and what it reads from MongoDB); when
 * none answers, reads MongoDB itself (checkpoint, snapshot progress, staging, dead letters,
 * lease). Says which source answered.
 */
export async function status(config: Config, opts: { json: boolean }): Promise<number> {
  const asked = await askInstance(config);
  if (asked.live !== undefined) {
    process.stdout.write(opts.json ? JSON.stringify({ ...asked.live, url: asked.url }, null, 2) + '\n' : humanLive(asked.live, asked.url));
    return 0;
  }
  const client = new MongoClient(config.mongo.url, { serverSelectionTimeoutMS: 10_000 });
  try {
    const stored = await readStoredStatus(client.db(config.mongo.database), config.pipeline);
    const answer: StoredAnswer = { source: 'mongodb', pipeline: config.pipeline, instance: asked.why, stored };
    process.stdout.write(opts.json ? JSON.stringify(answer, null, 2) + '\n' : humanStored(answer));
    return 0;
  } finally {
    await client.close();
  }
}

/** The `/status` URL for `http.addr`: a wildcard bind is asked on loopback. */
export function statusUrl(addr: string): string | undefined {
  if (addr === 'off') return undefined;
  const colon = addr.lastIndexOf(':');
  let host = addr.slice(0, colon);
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::' || host === '[::]') host = '[::1]';
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `http://${host}:${addr.slice(colon + 1)}/status`;
}

async function askInstance(config: Config): Promise<{ live?: LiveStatus; url?: string; why: string }> {
  const url = statusUrl(config.http.addr);
  if (url === undefined) return { why: 'http.addr is off: no instance can be asked' };
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(INSTANCE_WAIT_MS) });
    if (!res.ok) return { why: `${url} answered ${res.status}` };
    const body = (await res.json()) as Partial<LiveStatus>;
    if (body.source !== 'instance') return { why: `${url} is not an sdl instance's status` };
    if (body.pipeline !== config.pipeline) return { why: `the instance at ${url} runs pipeline ${String(body.pipeline)}, not ${config.pipeline}` };
    return { live: body as LiveStatus, url, why: '' };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { why: `no sdl instance answered at ${url} (${cause ?? (err as Error).message})` };
  }
}

function ago(iso: string | Date | null | undefined): string {
  if (iso === null || iso === undefined) return '';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  return s >= 0 ? `${s} s ago` : `in ${-s} s`;
}

function checkpointLine(s: StoredStatus | null): string {
  const cp = s?.checkpoint;
  if (cp === null || cp === undefined) return 'none (the first start takes the initial snapshot)';
  return `${cp.gtid !== null ? `GTID ${cp.gtid}, ` : ''}${cp.file}:${cp.pos}, written ${ago(cp.time)}`;
}

function storedLines(s: StoredStatus): string[] {
  const lines = [`checkpoint     ${checkpointLine(s)}`];
  if (s.snapshot !== null) {
    const cur = s.snapshot.current;
    lines.push(`snapshot       unfinished: ${s.snapshot.done.length} tables done, ${s.snapshot.rows} rows${cur !== null ? `, now ${cur.table}` : ''}`);
  }
  for (const c of s.tableCopies) {
    const of = c.estimatedRows === null ? '' : ` of ~${c.estimatedRows}`;
    const pace = c.rowsPerSecond === null ? 'not started' : `${c.rowsPerSecond} rows/s${c.etaSeconds === null ? '' : `, about ${c.etaSeconds} s left`}`;
    lines.push(`table copy     ${c.table}: ${c.rows}${of} rows, ${pace} (${c.reason}; saved ${ago(c.updatedAt)})`);
  }
  const open = s.openSlices > 0 ? `, ${s.openSlices} slice${s.openSlices === 1 ? '' : 's'} of a source transaction still open` : '';
  lines.push(`staging        ${s.pendingBatches} pending batch${s.pendingBatches === 1 ? '' : 'es'}${open}`);
  lines.push(`dead letters   ${s.deadLetters} unreplayed${s.deadLetters > 0 ? ' (sdl replay, once the cause is fixed)' : ''}`);
  return lines;
}

export function humanLive(s: LiveStatus, url: string | undefined): string {
  const lines = [`pipeline ${s.pipeline}: from the running instance at ${url ?? '?'} (pid ${s.pid}, started ${s.startedAt})`];
  lines.push(`state          ${s.machines.supervisor.state ?? '?'}${s.ready ? ' (ready)' : ''}${s.degraded.length > 0 ? `; degraded: ${s.degraded.join(', ')} retrying` : ''}`);
  lines.push(`machines       ${(['reader', 'batcher', 'committer'] as const).map((m) => `${m} ${s.machines[m].state ?? '-'}`).join(' · ')}`);
  lines.push(`lag            ${s.lagSeconds === null ? 'nothing committed yet' : `${s.lagSeconds.toFixed(1)} s`} · ${s.rowsPerSecond} rows/s · ${s.rowsCommitted} rows in ${s.batchesCommitted} batches since start`);
  const e = s.lastError;
  lines.push(`last error     ${e === null ? 'none' : `${e.machine}: ${e.code} (${e.errorClass}) ${e.message}; ${e.attempt > 0 ? `retrying, attempt ${e.attempt}` : 'recovered'}; ${e.retries} retries since start`}`);
  lines.push(`lease          ${s.lease.thisInstance ? `held by this instance (${s.owner}, term ${s.lease.term ?? '?'})` : s.lease.holder !== null ? `standby: ${s.lease.holder} writes (term ${s.lease.term ?? '?'}, expires ${ago(s.lease.expiresAt)})` : 'not held'}`);
  lines.push(`write concern  ${s.writeConcern === null ? 'not decided yet' : describeConcern(s.writeConcern)}`);
  if (s.stored !== null) lines.push(...storedLines(s.stored));
  else lines.push(`MongoDB        did not answer: ${s.storedError ?? '?'}`);
  return lines.join('\n') + '\n';
}

export function humanStored(s: StoredAnswer): string {
  const lines = [`pipeline ${s.pipeline}: from MongoDB; ${s.instance}`];
  lines.push(...storedLines(s.stored));
  const l = s.stored.lease;
  // A clean stop hands the lease over at once by setting its expiry to the epoch.
  const until = l === null ? '' : l.expiresAt.getTime() === 0 ? 'released at its stop' : `${l.expiresAt.getTime() > Date.now() ? 'expires' : 'expired'} ${ago(l.expiresAt)}`;
  lines.push(`lease          ${l === null ? 'never taken' : `${l.owner}, term ${l.term}, ${until}`}`);
  return lines.join('\n') + '\n';
}
