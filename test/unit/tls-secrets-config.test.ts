import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig, redactUrl } from '../../src/config/config.js';
import { exactOptions } from '../../src/mysql/connection.js';
import { makeTestCerts, type TestCerts } from '../support/tls-certs.js';

const MONGO = 'mongodb://m:27017';

/** The ConfigError's field and message, or a failure if loading succeeds. */
function refused(env: Record<string, string>, file?: string): { field: string; message: string } {
  try {
    loadConfig(file, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return { field: err.field, message: err.message };
  }
  assert.fail('loaded without a ConfigError');
}

describe('MySQL TLS settings: URL options, config fields, one options builder', () => {
  let dir: string;
  let certs: TestCerts;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdl-tls-unit-'));
    certs = makeTestCerts(join(dir, 'certs'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const ca = (): string => encodeURIComponent(certs.ca);

  it('no ssl-* setting: plain TCP, as before', () => {
    const cfg = loadConfig(undefined, { SDL_MYSQL_URL: 'mysql://u:p@db:3306', SDL_MONGO_URL: MONGO });
    assert.equal(exactOptions(cfg.mysql.url).ssl, undefined);
  });

  it('each mode builds the mysql2 options that do what the README says', () => {
    const opts = (q: string): ReturnType<typeof exactOptions> => exactOptions(loadConfig(undefined, { SDL_MYSQL_URL: `mysql://u:p@db:3306/?${q}`, SDL_MONGO_URL: MONGO }).mysql.url);
    const identity = opts(`ssl-mode=VERIFY_IDENTITY&ssl-ca=${ca()}`).ssl;
    assert.ok(typeof identity === 'object');
    assert.equal(identity.rejectUnauthorized, true);
    assert.equal(identity.verifyIdentity, true);
    assert.match(String(identity.ca), /BEGIN CERTIFICATE/);
    const chain = opts(`ssl-mode=verify_ca&ssl-ca=${ca()}`).ssl;
    assert.ok(typeof chain === 'object');
    assert.deepEqual([chain.rejectUnauthorized, chain.verifyIdentity], [true, false]);
    const required = opts('ssl-mode=REQUIRED').ssl;
    assert.ok(typeof required === 'object');
    assert.deepEqual([required.rejectUnauthorized, required.verifyIdentity, required.ca], [false, false, undefined]);
    const client = opts(`ssl-mode=REQUIRED&ssl-cert=${encodeURIComponent(certs.clientCert)}&ssl-key=${encodeURIComponent(certs.clientKey)}`).ssl;
    assert.ok(typeof client === 'object');
    assert.match(String(client.cert), /BEGIN CERTIFICATE/);
    assert.match(String(client.key), /PRIVATE KEY/);
    // VERIFY_IDENTITY by IP address: a socket that tells Node's TLS which address to check.
    assert.equal(typeof opts(`ssl-mode=VERIFY_IDENTITY&ssl-ca=${ca()}`).stream, 'undefined');
    assert.equal(typeof exactOptions(`mysql://u@127.0.0.1:3306/?ssl-mode=VERIFY_IDENTITY&ssl-ca=${ca()}`).stream, 'function');
  });

  it('the config file fields and SDL_MYSQL_SSL_* become the URL options every connection uses', () => {
    const file = join(dir, 'sdl.yaml');
    writeFileSync(file, `mysql:\n  sslMode: VERIFY_IDENTITY\n  sslCa: ${certs.ca}\n`);
    const fromFile = loadConfig(file, { SDL_MYSQL_URL: 'mysql://u:p@db:3306', SDL_MONGO_URL: MONGO });
    assert.equal(new URL(fromFile.mysql.url).searchParams.get('ssl-mode'), 'VERIFY_IDENTITY');
    assert.equal(new URL(fromFile.mysql.url).searchParams.get('ssl-ca'), certs.ca);
    const fromEnv = loadConfig(undefined, { SDL_MYSQL_URL: 'mysql://u:p@db:3306', SDL_MONGO_URL: MONGO, SDL_MYSQL_SSL_MODE: 'VERIFY_CA', SDL_MYSQL_SSL_CA: certs.ca });
    const ssl = exactOptions(fromEnv.mysql.url).ssl;
    assert.ok(typeof ssl === 'object');
    assert.deepEqual([ssl.rejectUnauthorized, ssl.verifyIdentity], [true, false]);
    // The same value twice is fine; two different values are refused.
    loadConfig(undefined, { SDL_MYSQL_URL: `mysql://u:p@db:3306/?ssl-mode=VERIFY_CA&ssl-ca=${ca()}`, SDL_MONGO_URL: MONGO, SDL_MYSQL_SSL_CA: certs.ca });
    const twice = refused({ SDL_MYSQL_URL: `mysql://u:p@db:3306/?ssl-mode=VERIFY_CA&ssl-ca=${ca()}`, SDL_MONGO_URL: MONGO, SDL_MYSQL_SSL_CA: certs.otherCa });
    assert.equal(twice.field, 'SDL_MYSQL_SSL_CA');
    assert.match(twice.message, /mysql\.url has ssl-ca=/);
  });

  it('bad URL options and contradictory settings: exit 2 naming the option', () => {
    const bad = (q: string, extra: Record<string, string> = {}): { field: string; message: string } => refused({ SDL_MYSQL_URL: `mysql://u:p@db:3306/?${q}`, SDL_MONGO_URL: MONGO, ...extra });
    assert.match(bad('sslmode=REQUIRED').message, /config mysql\.url: unknown option "sslmode" \(known: ssl-mode, ssl-ca, ssl-cert, ssl-key\)/);
    assert.match(bad('ssl-mode=STRICT').message, /ssl-mode: must be one of DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY, got "STRICT"/);
    assert.match(bad('ssl-mode=PREFERRED').message, /PREFERRED is not supported: it falls back to plain text/);
    assert.match(bad('ssl-mode=REQUIRED&ssl-mode=REQUIRED').message, /"ssl-mode" is given twice/);
    assert.match(bad(`ssl-ca=${ca()}`).message, /ssl-ca is set but ssl-mode is DISABLED \(the default\)/);
    assert.match(bad(`ssl-mode=REQUIRED&ssl-ca=${ca()}`).message, /ssl-ca is not used by ssl-mode REQUIRED/);
    assert.match(bad(`ssl-mode=REQUIRED&ssl-cert=${encodeURIComponent(certs.clientCert)}`).message, /ssl-cert and ssl-key go together/);
    assert.equal(bad('', { SDL_MYSQL_SSL_MODE: 'sometimes' }).field, 'SDL_MYSQL_SSL_MODE');
    const missing = bad(`ssl-mode=VERIFY_CA&ssl-ca=${encodeURIComponent(join(dir, 'missing.pem'))}`);
    assert.match(missing.message, /ssl-ca \(mysql\.sslCa\): cannot read .*missing\.pem/);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    assert.match(bad(`ssl-mode=REQUIRED&ssl-cert=${encodeURIComponent(garbage)}&ssl-key=${encodeURIComponent(certs.clientKey)}`).message, /garbage\.pem is not a usable PEM certificate/);
    assert.match(bad(`ssl-mode=VERIFY_CA&ssl-ca=${encodeURIComponent(garbage)}`).message, /ssl-ca \(mysql\.sslCa\): .*garbage\.pem is not a usable PEM certificate/);
    assert.match(bad(`ssl-mode=REQUIRED&ssl-cert=${encodeURIComponent(certs.clientCert)}&ssl-key=${encodeURIComponent(garbage)}`).message, /garbage\.pem is not a usable PEM private key/);
    assert.match(bad(`ssl-mode=REQUIRED&ssl-cert=${encodeURIComponent(certs.clientCert)}&ssl-key=${encodeURIComponent(certs.serverKey)}`).message, /does not belong to the certificate/);
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, 'mysql:\n  sslmode: REQUIRED\n');
    assert.equal(refused({ SDL_MYSQL_URL: 'mysql://u:p@db:3306', SDL_MONGO_URL: MONGO }, file).field, 'mysql.sslmode');
  });
});

describe('secrets from files: SDL_MYSQL_PASSWORD_FILE, SDL_MONGO_URL_FILE, systemd credentials', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdl-secrets-unit-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };

  it('the password file gives the URL user its password, exactly, without the trailing newline', () => {
    const pw = 'p@ss:w%41rd/#?& é';
    const cfg = loadConfig(undefined, { SDL_MYSQL_URL: 'mysql://repl@db:3306', SDL_MONGO_URL: MONGO, SDL_MYSQL_PASSWORD_FILE: write('pw', `${pw}\n`) });
    const opts = exactOptions(cfg.mysql.url);
    assert.equal(opts.password, pw);
    assert.equal(opts.user, 'repl');
    assert.equal(redactUrl(cfg.mysql.url), 'mysql://repl:***@db:3306');
    assert.equal(exactOptions(loadConfig(undefined, { SDL_MYSQL_URL: 'mysql://repl@db', SDL_MONGO_URL: MONGO, SDL_MYSQL_PASSWORD_FILE: write('pw-crlf', 'secret\r\n') }).mysql.url).password, 'secret');
  });

  it('systemd credentials: mysql-password and mongo-url in $CREDENTIALS_DIRECTORY', () => {
    const creds = join(dir, 'creds');
    mkdirSync(creds);
    const mk = (n: string, t: string): void => writeFileSync(join(creds, n), t, { mode: 0o600 });
    mk('mysql-password', 'from-credential\n');
    mk('mongo-url', 'mongodb://user:pw@m:27017/?authSource=admin\n');
    const cfg = loadConfig(undefined, { SDL_MYSQL_URL: 'mysql://repl@db:3306', CREDENTIALS_DIRECTORY: creds });
    assert.equal(exactOptions(cfg.mysql.url).password, 'from-credential');
    assert.equal(cfg.mongo.url, 'mongodb://user:pw@m:27017/?authSource=admin');
    // The MongoDB URL from a named file.
    assert.equal(loadConfig(undefined, { SDL_MYSQL_URL: 'mysql://r:p@db', SDL_MONGO_URL_FILE: write('mongo-url', 'mongodb://a:b@m2:27017\n') }).mongo.url, 'mongodb://a:b@m2:27017');
  });

  it('a secret given twice, or a file that cannot be read: exit 2 naming the variable and the path', () => {
    const pwFile = write('pw2', 'x\n');
    const twice = refused({ SDL_MYSQL_URL: 'mysql://repl:inline@db', SDL_MONGO_URL: MONGO, SDL_MYSQL_PASSWORD_FILE: pwFile });
    assert.equal(twice.field, 'mysql.url');
    assert.match(twice.message, /the MySQL password is given 2 times \(the password in SDL_MYSQL_URL, SDL_MYSQL_PASSWORD_FILE\)/);
    const mongoTwice = refused({ SDL_MYSQL_URL: 'mysql://r:p@db', SDL_MONGO_URL: MONGO, SDL_MONGO_URL_FILE: pwFile });
    assert.match(mongoTwice.message, /the MongoDB URL is given 2 times \(SDL_MONGO_URL, SDL_MONGO_URL_FILE\)/);
    const missing = refused({ SDL_MYSQL_URL: 'mysql://repl@db', SDL_MONGO_URL: MONGO, SDL_MYSQL_PASSWORD_FILE: join(dir, 'absent') });
    assert.equal(missing.field, 'SDL_MYSQL_PASSWORD_FILE');
    assert.match(missing.message, /cannot read .*absent: ENOENT/);
    const empty = refused({ SDL_MYSQL_URL: 'mysql://repl@db', SDL_MONGO_URL: MONGO, SDL_MYSQL_PASSWORD_FILE: write('empty', '\n') });
    assert.match(empty.message, /empty is empty/);
    assert.match(refused({ SDL_MYSQL_URL: 'mysql://db:3306', SDL_MONGO_URL: MONGO, SDL_MYSQL_PASSWORD_FILE: pwFile }).message, /names no user/);
    if (process.getuid?.() !== 0) {
      const locked = write('locked', 'x\n');
      chmodSync(locked, 0o000);
      const denied = refused({ SDL_MYSQL_URL: 'mysql://repl@db', SDL_MONGO_URL_FILE: locked });
      assert.equal(denied.field, 'SDL_MONGO_URL_FILE');
      assert.match(denied.message, /cannot read .*locked: EACCES/);
    }
  });
});
