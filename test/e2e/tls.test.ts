import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startSecondSource, startStack, type Stack } from '../support/stack.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { sdlCheck, sdlCommand } from '../support/sdl-cli.js';
import { makeTestCerts, type TestCerts } from '../support/tls-certs.js';

const PASSWORD = 'tls-pw:with@odd%chars/';


const check = sdlCheck;

/** Resolves with the exit code, or fails the test if sdl is still running after `ms` (it must not retry a TLS refusal forever). */
async function exitsWithin(sdl: SdlProcess, ms: number): Promise<number | null> {
  const timer = new Promise<'running'>((r) => setTimeout(() => r('running'), ms).unref());
  const res = await Promise.race([sdl.exited(), timer]);
  if (res === 'running') {
    await sdl.stop();
    assert.fail(`sdl still running after ${ms} ms:\n${sdl.logs().slice(-3000)}`);
  }
  return res;
}

describe('TLS to MySQL (VERIFY_IDENTITY against a test CA) and secrets from files', () => {
  let stack: Stack;
  let certs: TestCerts;
  let certDir: string;
  let pwFile: string;
  /** The TLS user's URL (no password: it comes from pwFile) at `host`, with these query options. */
  const url = (host: string, port: number, query: string): string => `mysql://tlsuser@${host}:${port}/?${query}`;

  before(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'sdl-tls-certs-'));
    certs = makeTestCerts(certDir);
    stack = await startStack({ mariadb: { tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey } } });
    pwFile = join(certDir, 'mysql-password');
    // As `echo pw > file` writes it: the newline is not part of the password.
    writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    const conn = await stack.mariadb.connect();
    try {
      // The server refuses this user any connection that is not TLS, the replication one included.
      await conn.query(`CREATE USER 'tlsuser'@'127.0.0.1' IDENTIFIED BY ${conn.escape(PASSWORD)} REQUIRE SSL`);
      await conn.query("GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'tlsuser'@'127.0.0.1'");
      await conn.query('CREATE DATABASE tlsdb; CREATE TABLE tlsdb.t (id INT PRIMARY KEY, v VARCHAR(64))');
      await conn.query("INSERT INTO tlsdb.t VALUES (1, 'snapshot-row-5e1d'), (2, 'snapshot-row-77aa')");
    } finally {
      await conn.end();
    }
  });
  after(async () => {
    await stack?.stop();
    if (certDir !== undefined) rmSync(certDir, { recursive: true, force: true });
  });

  it('sdl run replicates over TLS with VERIFY_IDENTITY; the wire carries no row text', async () => {
    const proxy = await TcpProxy.start(stack.mariadb.port);
    const sdl = new SdlProcess(stack.scratch, stack, {
      pipeline: 'tls',
      include: 'tlsdb',
      name: 'sdl-tls',
      env: { SDL_MYSQL_URL: url('localhost', proxy.port, `ssl-mode=VERIFY_IDENTITY&ssl-ca=${encodeURIComponent(certs.ca)}`), SDL_MYSQL_PASSWORD_FILE: pwFile },
    });
    const client = new MongoClient(stack.mongo.url);
    try {
      proxy.recording = true;
      sdl.start();
      await sdl.leaseAcquired();
      const mirror = client.db('tlsdb').collection<{ _id: number; v: string }>('t');
      const waitFor = async (n: number): Promise<void> => {
        const deadline = Date.now() + 90_000;
        while ((await mirror.countDocuments()) < n) {
          if (!sdl.running) assert.fail(`sdl exited:\n${sdl.logs().slice(-3000)}`);
          if (Date.now() > deadline) assert.fail(`mirror has fewer than ${n} rows:\n${sdl.logs().slice(-3000)}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      await waitFor(2); // the initial snapshot's connection
      const conn = await stack.mariadb.connect();
      try {
        await conn.query("INSERT INTO tlsdb.t VALUES (3, 'streamed-row-c0ffee')");
      } finally {
        await conn.end();
      }
      await waitFor(3); // the replication connection
      assert.deepEqual((await mirror.find().sort({ _id: 1 }).toArray()).map((d) => d.v), ['snapshot-row-5e1d', 'snapshot-row-77aa', 'streamed-row-c0ffee']);
      const tlsLine = sdl.lines().find((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('MySQL connection is encrypted'));
      assert.ok(tlsLine !== undefined, sdl.logs().slice(-3000));
      assert.equal(tlsLine['sslMode'], 'VERIFY_IDENTITY');
      assert.match(String(tlsLine['version']), /^TLSv1\.[23]$/);

      // Everything sdl said to MySQL and heard back crossed the proxy: no row value in clear.
      for (const v of ['snapshot-row-5e1d', 'streamed-row-c0ffee', 'tlsdb']) assert.equal(proxy.saw(v), false, `${v} crossed the network in clear text`);
      // The control: a plain connection through the same proxy shows its rows to the recorder.
      const plain = await mysql.createConnection({ host: '127.0.0.1', port: proxy.port, user: 'root' });
      try {
        await plain.query('SELECT v FROM tlsdb.t WHERE id = 3');
      } finally {
        await plain.end();
      }
      assert.equal(proxy.saw('streamed-row-c0ffee'), true, 'the recorder sees plain text');
      assert.equal(await sdl.stop(), 0);
    } finally {
      if (sdl.running) await sdl.stop();
      await client.close();
      await proxy.stop();
    }
  });

  it('the user REQUIREs SSL: without TLS the server refuses it (so every connection above was TLS)', async () => {
    const { code, report } = await check(stack, { SDL_MYSQL_URL: url('127.0.0.1', stack.mariadb.port, 'ssl-mode=DISABLED'), SDL_MYSQL_PASSWORD_FILE: pwFile });
    assert.equal(code, 2);
    assert.match(report.source?.error ?? '', /Access denied for user 'tlsuser'/);
  });

  it('sdl check and sdl verify connect with the same TLS options and report what was negotiated', async () => {
    const env = { SDL_MYSQL_URL: url('localhost', stack.mariadb.port, 'ssl-mode=VERIFY_IDENTITY'), SDL_MYSQL_SSL_CA: certs.ca, SDL_MYSQL_PASSWORD_FILE: pwFile, SDL_INCLUDE: 'tlsdb' };
    const { code, report } = await check(stack, env);
    assert.equal(code, 0, JSON.stringify(report));
    assert.equal(report.tls?.sslMode, 'VERIFY_IDENTITY');
    assert.equal(report.tls?.encrypted, true);
    assert.match(report.tls?.version ?? '', /^TLSv1\.[23]$/);
    assert.notEqual(report.tls?.cipher, '');
    const verified = await sdlCommand(stack, 'verify', env);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    // root over plain TCP: the report says so.
    const plain = await check(stack, {});
    assert.equal(plain.report.tls?.encrypted, false);
  });

  it('a wrong CA: sdl run exits 2 at once, naming TLS and the CA file', async () => {
    const sdl = new SdlProcess(stack.scratch, stack, {
      pipeline: 'tls-wrong-ca',
      include: 'tlsdb',
      name: 'sdl-wrong-ca',
      env: { SDL_MYSQL_URL: url('localhost', stack.mariadb.port, `ssl-mode=VERIFY_IDENTITY&ssl-ca=${encodeURIComponent(certs.otherCa)}`), SDL_MYSQL_PASSWORD_FILE: pwFile },
    });
    sdl.start();
    assert.equal(await exitsWithin(sdl, 60_000), 2);
    const fatal = sdl.lines().find((l) => l['level'] === 60);
    assert.match(String(fatal?.['msg']), /TLS: the MySQL server's certificate is not signed by ssl-ca .*other-ca\.pem/, sdl.logs().slice(-3000));
    assert.match(String(fatal?.['msg']), /set ssl-ca to the CA certificate that signed/);
    // Not retried: no backoff before the exit.
    assert.equal(sdl.lines().some((l) => l['to'] === 'backoff' || JSON.stringify(l['to'] ?? '').includes('backoff')), false, sdl.logs().slice(-3000));
  });

  it('a host name the certificate does not list: exit 2 naming the host; VERIFY_CA accepts it, REQUIRED accepts any CA', async () => {
    const sdl = new SdlProcess(stack.scratch, stack, {
      pipeline: 'tls-wrong-host',
      include: 'tlsdb',
      name: 'sdl-wrong-host',
      env: { SDL_MYSQL_URL: url('127.0.0.1', stack.mariadb.port, `ssl-mode=VERIFY_IDENTITY&ssl-ca=${encodeURIComponent(certs.ca)}`), SDL_MYSQL_PASSWORD_FILE: pwFile },
    });
    sdl.start();
    assert.equal(await exitsWithin(sdl, 60_000), 2);
    const fatal = sdl.lines().find((l) => l['level'] === 60);
    assert.match(String(fatal?.['msg']), /TLS: the MySQL server's certificate does not name the host "127\.0\.0\.1"/, sdl.logs().slice(-3000));

    // The modes differ exactly as documented.
    const caOnly = await check(stack, { SDL_MYSQL_URL: url('127.0.0.1', stack.mariadb.port, `ssl-mode=VERIFY_CA&ssl-ca=${encodeURIComponent(certs.ca)}`), SDL_MYSQL_PASSWORD_FILE: pwFile });
    assert.equal(caOnly.code, 0, JSON.stringify(caOnly.report));
    const required = await check(stack, { SDL_MYSQL_URL: url('127.0.0.1', stack.mariadb.port, 'ssl-mode=REQUIRED'), SDL_MYSQL_PASSWORD_FILE: pwFile });
    assert.equal(required.code, 0, JSON.stringify(required.report));
    assert.equal(required.report.tls?.encrypted, true);
    const wrongCaCheck = await check(stack, { SDL_MYSQL_URL: url('localhost', stack.mariadb.port, 'ssl-mode=VERIFY_CA'), SDL_MYSQL_SSL_CA: certs.otherCa, SDL_MYSQL_PASSWORD_FILE: pwFile });
    assert.equal(wrongCaCheck.code, 2);
    assert.match(wrongCaCheck.report.source?.error ?? '', /not signed by ssl-ca .*other-ca\.pem/);
  });

  it('a server without TLS and ssl-mode REQUIRED: exit 2 saying the server offers no TLS', async () => {
    const plain = await startSecondSource(stack);
    try {
      const { code, report } = await check(plain, { SDL_MYSQL_URL: `${plain.mariadb.url}/?ssl-mode=REQUIRED` });
      assert.equal(code, 2);
      assert.match(report.source?.error ?? '', /TLS: the MySQL server at 127\.0\.0\.1 does not offer TLS, and ssl-mode is REQUIRED/);
    } finally {
      await plain.stop();
    }
  });

  it('a client certificate (ssl-cert, ssl-key) for a user created REQUIRE X509', async () => {
    const conn = await stack.mariadb.connect();
    try {
      await conn.query("CREATE USER 'x509user'@'127.0.0.1' REQUIRE X509; GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'x509user'@'127.0.0.1'");
    } finally {
      await conn.end();
    }
    const base = `mysql://x509user@localhost:${stack.mariadb.port}/?ssl-mode=VERIFY_IDENTITY&ssl-ca=${encodeURIComponent(certs.ca)}`;
    const withCert = await check(stack, { SDL_MYSQL_URL: base, SDL_MYSQL_SSL_CERT: certs.clientCert, SDL_MYSQL_SSL_KEY: certs.clientKey });
    assert.equal(withCert.code, 0, JSON.stringify(withCert.report));
    const without = await check(stack, { SDL_MYSQL_URL: base });
    assert.equal(without.code, 2);
    assert.match(without.report.source?.error ?? '', /Access denied for user 'x509user'/);
  });

  it('systemd credentials: the MySQL password and the MongoDB URL from $CREDENTIALS_DIRECTORY, nothing secret in the environment', async () => {
    const creds = mkdtempSync(join(tmpdir(), 'sdl-creds-'));
    try {
      writeFileSync(join(creds, 'mysql-password'), `${PASSWORD}\n`, { mode: 0o600 });
      writeFileSync(join(creds, 'mongo-url'), `${stack.mongo.url}\n`, { mode: 0o600 });
      const env = { SDL_MYSQL_URL: url('localhost', stack.mariadb.port, `ssl-mode=VERIFY_IDENTITY&ssl-ca=${encodeURIComponent(certs.ca)}`), SDL_MONGO_URL: '', CREDENTIALS_DIRECTORY: creds };
      const { code, report } = await check(stack, env);
      assert.equal(code, 0, JSON.stringify(report));
      assert.equal(report.tls?.encrypted, true);
      // SDL_MONGO_URL_FILE instead of the credential: the same, from a named file.
      const { code: code2, report: report2 } = await check(stack, { ...env, CREDENTIALS_DIRECTORY: '', SDL_MYSQL_PASSWORD_FILE: pwFile, SDL_MONGO_URL_FILE: join(creds, 'mongo-url') });
      assert.equal(code2, 0, JSON.stringify(report2));
      // An unreadable file: exit 2 naming the variable and the path.
      const missing = await sdlCommand(stack, 'check', { ...env, CREDENTIALS_DIRECTORY: '', SDL_MYSQL_PASSWORD_FILE: join(creds, 'nope') });
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /SDL_MYSQL_PASSWORD_FILE: cannot read .*nope/);
    } finally {
      rmSync(creds, { recursive: true, force: true });
    }
  });
  it('the server swaps to a certificate sdl does not trust while streaming: the reconnect is refused, sdl exits 2', async () => {
    const saved = { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) };
    const sdl = new SdlProcess(stack.scratch, stack, {
      pipeline: 'tls-swap',
      include: 'tlsdb',
      name: 'sdl-swap',
      env: { SDL_MYSQL_URL: url('localhost', stack.mariadb.port, `ssl-mode=VERIFY_IDENTITY&ssl-ca=${encodeURIComponent(certs.ca)}`), SDL_MYSQL_PASSWORD_FILE: pwFile },
    });
    const conn = await stack.mariadb.connect();
    try {
      sdl.start();
      await sdl.leaseAcquired();
      await waitForCatchUp(stack, 'tls-swap', 90_000, sdl);
      // Streaming: the snapshot's checkpoint can land a moment before the replication connection opens.
      let dumps: { id: number }[] = [];
      for (const deadline = Date.now() + 30_000; dumps.length === 0; await new Promise((r) => setTimeout(r, 200))) {
        assert.ok(Date.now() < deadline, `sdl opened no replication connection:\n${sdl.logs().slice(-3000)}`);
        [dumps] = (await conn.query("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = 'tlsuser' AND COMMAND LIKE 'Binlog Dump%'")) as unknown as [{ id: number }[]];
      }
      // Same host name, another CA's signature: what an impostor (or a botched rotation) presents.
      copyFileSync(certs.foreignServerCert, certs.serverCert);
      copyFileSync(certs.foreignServerKey, certs.serverKey);
      await conn.query('FLUSH SSL');
      for (const d of dumps) await conn.query(`KILL ${d.id}`);
      assert.equal(await exitsWithin(sdl, 60_000), 2);
      const fatal = sdl.lines().find((l) => l['level'] === 60);
      assert.match(String(fatal?.['msg']), /TLS: the MySQL server's certificate is not signed by ssl-ca .*ca\.pem/, sdl.logs().slice(-3000));
      // The reader lost its stream (a network error: one backoff), reconnected, was refused, and stopped: not retried.
      const reader = sdl.lines().filter((l) => l['machine'] === 'reader').map((l) => JSON.stringify(l['to']));
      assert.deepEqual(reader.slice(-3), ['"backoff"', '{"online":"connecting"}', '"failed"'], reader.join(' '));
      assert.equal(reader.filter((r) => r === '"backoff"').length, 1, reader.join(' '));
    } finally {
      if (sdl.running) await sdl.stop();
      writeFileSync(certs.serverCert, saved.cert);
      writeFileSync(certs.serverKey, saved.key);
      await conn.query('FLUSH SSL');
      await conn.end();
    }
  });
});
