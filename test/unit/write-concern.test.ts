import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MongoNetworkError, MongoServerError, MongoWriteConcernError } from 'mongodb';
import { loadConfig } from '../../src/config/config.js';
import { SdlError } from '../../src/errors.js';
import {
  decideWriteConcern,
  describeConcern,
  isStrong,
  probeWriteConcerns,
  requestedByUrl,
  STRONG,
  type Concern,
  type ProbeWrite,
} from '../../src/mongo/write-concern.js';

/** A server's answers to writes with a given concern, in the shapes the driver throws. */
function server(refuse: (c: Concern) => Error | undefined): { write: ProbeWrite; tried: Concern[] } {
  const tried: Concern[] = [];
  return {
    tried,
    write: (c) => {
      tried.push(c);
      const err = refuse(c);
      return err === undefined ? Promise.resolve() : Promise.reject(err);
    },
  };
}

/** A real mongod's answers: a standalone refuses w > 1, an in-memory engine refuses j. */
const standaloneNoJournal = (c: Concern): Error | undefined => {
  if (typeof c.w === 'number' && c.w > 1) return new MongoServerError({ code: 2, codeName: 'BadValue', errmsg: "cannot use 'w' > 1 with a standalone" });
  if (c.j === true) return new MongoServerError({ code: 2, codeName: 'BadValue', errmsg: "cannot use 'j' option when a host does not have journaling enabled" });
  return undefined;
};

function refusal(fn: () => unknown): SdlError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SdlError, String(err));
    return err;
  }
  assert.fail('not refused');
}

describe('write concern policy', () => {
  it('a server that accepts { w: "majority", j: true } gets it, tried first and alone', async () => {
    const s = server((c) => (c.w === 50 ? new MongoWriteConcernError({ writeConcernError: { code: 100, errmsg: 'Not enough data-bearing nodes' } } as never) : undefined));
    const probe = await probeWriteConcerns(s.write, undefined);
    assert.deepEqual(s.tried.slice(0, 1), [STRONG]);
    const d = decideWriteConcern(probe, false);
    assert.deepEqual(d.concern, STRONG);
    assert.equal(d.strong, true);
    assert.equal(d.enforced, true);
  });

  it('a server that acknowledges w: 50 (FerretDB) is reported as not enforcing write concerns, still strong', async () => {
    const d = decideWriteConcern(await probeWriteConcerns(server(() => undefined).write, undefined), false);
    assert.deepEqual(d.concern, STRONG);
    assert.equal(d.enforced, false);
  });

  it('a server without journaling: the strongest it accepts is { w: "majority" }, refused at start without the setting', async () => {
    const probe = await probeWriteConcerns(server(standaloneNoJournal).write, undefined);
    assert.deepEqual(probe.accepted, { w: 'majority' });
    assert.deepEqual(probe.refused.map((r) => r.concern), [STRONG]);
    const err = refusal(() => decideWriteConcern(probe, false));
    assert.equal(err.errorClass, 'config');
    assert.equal(err.code, 'WEAK_WRITE_CONCERN');
    assert.match(err.message, /MongoDB accepts no write concern stronger than \{ w: "majority" \}/);
    assert.match(err.message, /journaling enabled/);
    assert.match(err.message, /mongo\.allowWeakWriteConcern: true/);
    assert.match(err.message, /SDL_MONGO_ALLOW_WEAK_WRITE_CONCERN=true/);
    const allowed = decideWriteConcern(probe, true);
    assert.deepEqual(allowed.concern, { w: 'majority' });
    assert.equal(allowed.strong, false);
  });

  it('the URL chooses: w=1 is { w: 1, j: true }, tried alone, and needs the setting', async () => {
    const requested = requestedByUrl('mongodb://h:27017/?w=1');
    assert.deepEqual(requested, { w: 1, j: true });
    const s = server(() => undefined);
    const probe = await probeWriteConcerns(s.write, requested);
    assert.deepEqual(s.tried[0], { w: 1, j: true });
    assert.equal(probe.source, 'url');
    const err = refusal(() => decideWriteConcern(probe, false));
    assert.match(err.message, /^mongo\.url sets the write concern \{ w: 1, j: true \}, weaker than \{ w: "majority", j: true \}/);
    assert.match(err.hint ?? '', /remove w \/ journal from mongo\.url/);
    assert.deepEqual(decideWriteConcern(probe, true).concern, { w: 1, j: true });
  });

  it('URL options lay over majority + journal: journal=false is weak, wtimeoutMS alone keeps it strong, w=0 is never allowed', async () => {
    assert.equal(requestedByUrl('mongodb://h/'), undefined);
    assert.deepEqual(requestedByUrl('mongodb://h/?journal=false'), { w: 'majority', j: false });
    const timed = requestedByUrl('mongodb://h/?wtimeoutMS=5000');
    assert.deepEqual(timed, { w: 'majority', j: true, wtimeoutMS: 5000 });
    assert.equal(isStrong(timed ?? { w: 1 }), true);
    const zero = await probeWriteConcerns(server(() => undefined).write, requestedByUrl('mongodb://h/?w=0'));
    assert.match(refusal(() => decideWriteConcern(zero, true)).message, /unacknowledged writes \(w: 0\)/);
  });

  it('a numeric w or a tag is not majority: weak', () => {
    assert.equal(isStrong({ w: 3, j: true }), false);
    assert.equal(isStrong({ w: 'dc2', j: true }), false);
    assert.equal(isStrong({ w: 'majority' }), false);
    assert.equal(describeConcern({ w: 'majority', j: true, wtimeoutMS: 10 }), '{ w: "majority", j: true, wtimeoutMS: 10 }');
  });

  it('a URL concern the server refuses stops the start naming mongo.url, even with the setting', async () => {
    const probe = await probeWriteConcerns(server(standaloneNoJournal).write, requestedByUrl('mongodb://h/?w=3'));
    assert.equal(probe.accepted, undefined);
    const err = refusal(() => decideWriteConcern(probe, true));
    assert.equal(err.errorClass, 'config');
    assert.match(err.message, /MongoDB refused the write concern mongo\.url asks for \(\{ w: 3, j: true \}: cannot use 'w' > 1 with a standalone\)/);
  });

  it('a network failure during the probe is thrown (retried), never taken for a refusal', async () => {
    await assert.rejects(probeWriteConcerns(server(() => new MongoNetworkError('connection reset')).write, undefined), MongoNetworkError);
  });

  it('any other failure of the probe write (not authorized) is thrown as itself', async () => {
    const unauthorized = new MongoServerError({ code: 13, codeName: 'Unauthorized', errmsg: 'not authorized on sdl to execute command' });
    await assert.rejects(probeWriteConcerns(server(() => unauthorized).write, undefined), (e) => e === unauthorized);
  });

  it('a writeConcernError (the write applied, the concern not met) counts as a refusal', async () => {
    const probe = await probeWriteConcerns(server((c) => (c.w === 'majority' ? new MongoWriteConcernError({ writeConcernError: { code: 79, errmsg: 'unrecognized write concern field' } } as never) : undefined)).write, undefined);
    assert.deepEqual(probe.accepted, { w: 1, j: true });
    assert.equal(probe.refused.length, 2);
  });
});

describe('mongo.allowWeakWriteConcern', () => {
  const env = { SDL_MYSQL_URL: 'mysql://r:p@db:3306', SDL_MONGO_URL: 'mongodb://m:27017' };
  it('is off unless set; SDL_MONGO_ALLOW_WEAK_WRITE_CONCERN sets it; a wrong value names the field', () => {
    assert.equal(loadConfig(undefined, env).mongo.allowWeakWriteConcern, false);
    assert.equal(loadConfig(undefined, { ...env, SDL_MONGO_ALLOW_WEAK_WRITE_CONCERN: 'true' }).mongo.allowWeakWriteConcern, true);
    assert.throws(() => loadConfig(undefined, { ...env, SDL_MONGO_ALLOW_WEAK_WRITE_CONCERN: 'yes' }), /config mongo\.allowWeakWriteConcern: must be true or false/);
  });
});
