import type { Capabilities } from './capabilities.js';
import { ALLOW_WEAK_SETTING, decideWriteConcern, describeConcern, STRONG } from './write-concern.js';
import { SdlError } from '../errors.js';

/** One finding of `sdl check` about the MongoDB target (the same shape as the source's). */
export interface TargetFinding {
  check: string;
  ok: boolean;
  /** A warning does not fail `sdl check`. */
  warning?: boolean;
  detail: string;
  fix?: string;
  /** The write concern `sdl run` would use, `{ w, j }`, when it would start. */
  writeConcern?: { w: number | string; j?: boolean; wtimeoutMS?: number };
}

/** What `sdl run` would decide about the write concern, as a finding: a refusal fails the check. */
export function writeConcernFinding(caps: Capabilities, allowWeak: boolean): TargetFinding {
  try {
    const d = decideWriteConcern(caps.writeConcern, allowWeak);
    const from = d.source === 'url' ? 'as mongo.url asks' : 'the strongest the server accepts';
    const unenforced = d.enforced ? '' : '; the server also acknowledged w: 50, which it cannot satisfy: it does not enforce write concerns, so this is a request, not a guarantee';
    if (d.strong) {
      return { check: 'write concern', ok: true, ...(d.enforced ? {} : { warning: true }), detail: `every write uses ${describeConcern(d.concern)} (${from})${unenforced}`, writeConcern: d.concern };
    }
    return {
      check: 'write concern',
      ok: true,
      warning: true,
      detail: `every write uses ${describeConcern(d.concern)} (${from}), weaker than ${describeConcern(STRONG)}, allowed by ${ALLOW_WEAK_SETTING}${unenforced}`,
      fix: 'run MongoDB as a replica set with journaling and remove w / journal from mongo.url, so sdl can use { w: "majority", j: true }',
      writeConcern: d.concern,
    };
  } catch (err) {
    if (!(err instanceof SdlError)) throw err;
    return { check: 'write concern', ok: false, detail: err.message, ...(err.hint !== undefined ? { fix: err.hint } : {}) };
  }
}

/** Standalone, replica set (name, primary, members) or sharded; a standalone is a warning. */
export function replicaSetFinding(caps: Capabilities): TargetFinding {
  const t = caps.topology;
  if (t.kind === 'sharded') return { check: 'replica set', ok: true, detail: 'a sharded cluster (mongos): each shard is a replica set' };
  if (t.kind === 'standalone') {
    return {
      check: 'replica set',
      ok: true,
      warning: true,
      detail: 'MongoDB is a standalone server: no replica set, so w: "majority" is this one server and no copy of a write survives losing it',
      fix: 'run MongoDB as a replica set of three members (rs.initiate) and connect with its replicaSet name',
    };
  }
  const members = t.members !== undefined
    ? t.members.map((m) => `${m.name} ${m.state}${m.healthy ? '' : ' (unreachable)'}`).join(', ')
    : (t.hosts ?? []).join(', ');
  const unhealthy = t.members?.filter((m) => !m.healthy) ?? [];
  const detail = `replica set ${t.setName ?? '?'}, primary ${t.primary ?? 'none'}, members: ${members}${(t.arbiters ?? []).length > 0 ? `, arbiters: ${(t.arbiters ?? []).join(', ')}` : ''}`;
  if (t.primary === undefined) return { check: 'replica set', ok: false, detail: `${detail}: no primary, nothing can be written`, fix: 'bring a majority of the members back so the set elects a primary' };
  if (unhealthy.length > 0) return { check: 'replica set', ok: true, warning: true, detail, fix: `bring ${unhealthy.map((m) => m.name).join(', ')} back: a majority write waits for the members that are up` };
  return { check: 'replica set', ok: true, detail };
}
