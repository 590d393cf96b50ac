import { MongoClient, type Document, type WriteConcernSettings } from 'mongodb';
import { SdlError } from '../errors.js';
import { classifyMongoError, reasonOf } from './errors.js';

/**
 * The write concern every sdl write carries. The commit protocol's promise (a committed batch
 * survives the loss of the primary) holds only with `{ w: 'majority', j: true }`; anything
 * weaker is the operator's explicit choice (`mongo.allowWeakWriteConcern`), never a fallback
 * sdl takes by itself, at start or at runtime.
 */
export interface Concern {
  w: number | string;
  /** Absent: the server's default (for majority, `writeConcernMajorityJournalDefault`). */
  j?: boolean;
  wtimeoutMS?: number;
}

export const STRONG: Concern = { w: 'majority', j: true };

/** Tried strongest first when the URL does not choose; the first the server accepts is the strongest. */
export const LADDER: readonly Concern[] = [STRONG, { w: 'majority' }, { w: 1, j: true }, { w: 1 }];

/** A concern the server refused, with its answer. */
export interface Refusal {
  concern: Concern;
  error: string;
}

/** What the server said about write concerns (probed, see probeWriteConcerns). */
export interface WriteConcernProbe {
  /** The strongest concern it accepted: the URL's own when the URL sets one; undefined when it refused all. */
  accepted: Concern | undefined;
  /** Where the candidate came from. */
  source: 'url' | 'probe';
  refused: Refusal[];
  /**
   * Whether the server refuses a concern no deployment of its shape can satisfy (w: 50).
   * A server that acknowledges it (FerretDB 1.x) does not enforce write concerns at all:
   * the concern sdl sends is then a request, not a guarantee.
   */
  enforced: boolean;
}

/** The decision: the concern sdl uses for every write, and whether it is the strong one. */
export interface WriteConcernDecision {
  concern: Concern;
  strong: boolean;
  source: 'url' | 'probe';
  refused: Refusal[];
  enforced: boolean;
}

/** True only for `{ w: 'majority', j: true }` (a numeric w or a tag is not majority on every deployment). */
export function isStrong(c: Concern): boolean {
  return c.w === 'majority' && c.j === true;
}

/** `{ w: "majority", j: true }`, as people write it. */
export function describeConcern(c: Concern): string {
  const parts = [`w: ${typeof c.w === 'string' ? JSON.stringify(c.w) : String(c.w)}`];
  if (c.j !== undefined) parts.push(`j: ${String(c.j)}`);
  if (c.wtimeoutMS !== undefined) parts.push(`wtimeoutMS: ${c.wtimeoutMS}`);
  return `{ ${parts.join(', ')} }`;
}

/**
 * The write concern the operator put in `mongo.url` (`w`, `journal`, `wtimeoutMS`), as the
 * driver itself parses it, laid over STRONG: `?wtimeoutMS=5000` keeps majority and journal,
 * `?w=1` asks for `{ w: 1, j: true }`, `?journal=false` for `{ w: 'majority', j: false }`.
 * Undefined when the URL sets none of them.
 */
export function requestedByUrl(url: string): Concern | undefined {
  return requestedByClient(new MongoClient(url));
}

/** The concern a client was built with (its URL's, or the one sdl gave it), laid over STRONG like requestedByUrl. */
export function requestedByClient(client: MongoClient): Concern | undefined {
  const wc = client.options.writeConcern;
  if (wc === undefined) return undefined;
  const out: Concern = { ...STRONG };
  if (wc.w !== undefined) out.w = wc.w;
  const j = wc.journal ?? (wc as { j?: boolean }).j;
  if (j !== undefined) out.j = j;
  if (wc.wtimeoutMS !== undefined) out.wtimeoutMS = wc.wtimeoutMS;
  return out;
}

/** The driver's form of a concern (per operation or for a client). */
export function driverConcern(c: Concern): WriteConcernSettings {
  return { w: c.w as WriteConcernSettings['w'], ...(c.j !== undefined ? { journal: c.j } : {}), ...(c.wtimeoutMS !== undefined ? { wtimeoutMS: c.wtimeoutMS } : {}) };
}

/** A write with the given concern; resolves when the server acknowledged it with that concern. */
export type ProbeWrite = (c: Concern) => Promise<void>;

/**
 * Tries the URL's concern, or the LADDER strongest first, with real writes. A refusal moves on;
 * a transient failure (no server, an election) is thrown, so the caller retries the whole probe
 * rather than settling for less because of bad timing.
 */
export async function probeWriteConcerns(write: ProbeWrite, requested: Concern | undefined): Promise<WriteConcernProbe> {
  const candidates = requested !== undefined ? [requested] : LADDER;
  const refused: Refusal[] = [];
  let accepted: Concern | undefined;
  for (const c of candidates) {
    const error = await attempt(write, c);
    if (error === undefined) {
      accepted = c;
      break;
    }
    refused.push({ concern: c, error });
  }
  // w: 50 needs fifty data-bearing members (the most a replica set may have) and w > 1 is
  // refused by a standalone: a server that says yes does not enforce write concerns.
  const enforced = await write({ w: 50, wtimeoutMS: 1 }).then(() => false, (err: unknown) => {
    if (classifyMongoError(err) === 'transient') throw err;
    return true;
  });
  return { accepted, source: requested !== undefined ? 'url' : 'probe', refused, enforced };
}

async function attempt(write: ProbeWrite, c: Concern): Promise<string | undefined> {
  try {
    await write(c);
    return undefined;
  } catch (err) {
    if (classifyMongoError(err) === 'transient') throw err;
    if (!refusesWriteConcern(err)) throw err;
    return reasonOf(err).message;
  }
}

/**
 * The server's "no" to a write concern, as opposed to any other failure of the probe write
 * (authorization, a full disk), which must surface as itself.
 */
export function refusesWriteConcern(err: unknown): boolean {
  const e = err as Document;
  const code = Number(e['code']);
  const wcError = e['writeConcernError'] !== undefined || (e['errorResponse'] as Document | undefined)?.['writeConcernError'] !== undefined || e['name'] === 'MongoWriteConcernError';
  // UnknownReplWriteConcern 79, UnsatisfiableWriteConcern 100, CannotSatisfyWriteConcern, BadValue 2 / FailedToParse 9 naming it.
  return wcError || ([79, 100, 2, 9, 14].includes(code) && /write ?concern|majority|journal|\bj\b|'w'|standalone|replica/i.test(String(e['message'])));
}

/** Where the setting is, for the error a weak concern gives without it. */
export const ALLOW_WEAK_SETTING = 'mongo.allowWeakWriteConcern';

/**
 * The policy: the probed concern is used when it is `{ w: 'majority', j: true }`, or when the
 * operator allows weaker ones; otherwise sdl refuses to start (a config error, exit 2) naming
 * the setting and what the server accepted.
 */
export function decideWriteConcern(probe: WriteConcernProbe, allowWeak: boolean): WriteConcernDecision {
  const refusedText = probe.refused.map((r) => `${describeConcern(r.concern)}: ${r.error}`).join('; ');
  if (probe.accepted === undefined) {
    const asked = probe.source === 'url' ? `the write concern mongo.url asks for` : 'every write concern sdl tried';
    throw new SdlError('WRITE_CONCERN', `MongoDB refused ${asked} (${refusedText})`, 'config',
      probe.source === 'url' ? 'change or remove w / journal / wtimeoutMS in mongo.url' : 'check the MongoDB deployment (journaling, replica set configuration)');
  }
  const c = probe.accepted;
  if (c.w === 0) {
    throw new SdlError('WRITE_CONCERN', `mongo.url asks for unacknowledged writes (w: 0): sdl needs every write acknowledged`, 'config', 'remove w=0 from mongo.url');
  }
  const strong = isStrong(c);
  if (!strong && !allowWeak) {
    const why = probe.source === 'url'
      ? `mongo.url sets the write concern ${describeConcern(c)}`
      : `MongoDB accepts no write concern stronger than ${describeConcern(c)} (refused ${refusedText})`;
    throw new SdlError('WEAK_WRITE_CONCERN', `${why}, weaker than ${describeConcern(STRONG)}: a committed batch could be lost with the primary; set ${ALLOW_WEAK_SETTING}: true (env SDL_MONGO_ALLOW_WEAK_WRITE_CONCERN=true) to run with it anyway`, 'config',
      probe.source === 'url'
        ? `remove w / journal from mongo.url (sdl then uses ${describeConcern(STRONG)}), or set ${ALLOW_WEAK_SETTING}: true to accept ${describeConcern(c)}`
        : `run MongoDB as a replica set with journaling, or set ${ALLOW_WEAK_SETTING}: true to accept ${describeConcern(c)}`);
  }
  return { concern: c, strong, source: probe.source, refused: probe.refused, enforced: probe.enforced };
}
