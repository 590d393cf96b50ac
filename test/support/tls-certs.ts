import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM file paths made by openssl for TLS tests. */
export interface TestCerts {
  dir: string;
  /** The CA that signed the server and client certificates. */
  ca: string;
  /** A CA that signed nothing here: trusting it instead of `ca` must fail. */
  otherCa: string;
  /** The server's certificate names only DNS:localhost (no IP address). */
  serverCert: string;
  serverKey: string;
  /** A client certificate signed by `ca` (CN=sdl), for users created REQUIRE X509. */
  clientCert: string;
  clientKey: string;
  /** A certificate for localhost like serverCert, but signed by `otherCa` (a server that swapped its certificate). */
  foreignServerCert: string;
  foreignServerKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string, cn: string): void {
  openssl(dir, ['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '3', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

function makeLeaf(dir: string, name: string, cn: string, ext: string, ca = 'ca'): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '3', '-extfile', `${name}.ext`]);
}

/** A CA, a server certificate for `localhost` and a client certificate signed by it, and an unrelated second CA, in `dir`. */
export function makeTestCerts(dir: string): TestCerts {
  mkdirSync(dir, { recursive: true });
  makeCa(dir, 'ca', 'sdl test CA');
  makeCa(dir, 'other-ca', 'some other CA');
  const server = 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n';
  makeLeaf(dir, 'server', 'localhost', server);
  makeLeaf(dir, 'foreign-server', 'localhost', server, 'other-ca');
  makeLeaf(dir, 'client', 'sdl', 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
  const p = (f: string): string => join(dir, f);
  return { dir, ca: p('ca.pem'), otherCa: p('other-ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key'), foreignServerCert: p('foreign-server.pem'), foreignServerKey: p('foreign-server.key') };
}
