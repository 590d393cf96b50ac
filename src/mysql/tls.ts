import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { SslOptions } from 'mysql2';
import { ConfigError } from '../config/config-error.js';
import { SdlError } from '../errors.js';

/**
 * How a MySQL connection uses TLS (the names and meanings of the MySQL client's --ssl-mode):
 * - DISABLED: plain TCP (the default when no ssl-* setting is given).
 * - REQUIRED: TLS or no connection; the server's certificate is not checked at all, so it
 *   stops eavesdropping but not an impostor.
 * - VERIFY_CA: REQUIRED, and the certificate must chain to ssl-ca (without ssl-ca: to a CA
 *   Node trusts); the host name in it is not compared.
 * - VERIFY_IDENTITY: VERIFY_CA, and the certificate must name the host sdl connects to
 *   (a DNS name, or an IP address when connecting by address).
 * PREFERRED (TLS if the server offers it, else plain text) is refused: a downgrade nobody sees.
 */
export const SSL_MODES = ['DISABLED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface TlsSettings {
  mode: SslMode;
  /** PEM file paths. */
  ca?: string;
  cert?: string;
  key?: string;
}

/** The MySQL URL's query options, which are all about TLS; anything else in the query is refused. */
export const URL_OPTIONS = { 'ssl-mode': 'mode', 'ssl-ca': 'ca', 'ssl-cert': 'cert', 'ssl-key': 'key' } as const;
export type UrlOption = keyof typeof URL_OPTIONS;
type Files = 'ca' | 'cert' | 'key';

/** A mode name as the URL, the config file or the environment spell it (case-insensitive). */
export function parseSslMode(v: string, field: string): SslMode {
  const m = v.trim().toUpperCase();
  if (m === 'PREFERRED') {
    throw new ConfigError(field, 'PREFERRED is not supported: it falls back to plain text without a word; use REQUIRED (encrypt) or VERIFY_IDENTITY (encrypt and check the server)');
  }
  if (!(SSL_MODES as readonly string[]).includes(m)) throw new ConfigError(field, `must be one of ${SSL_MODES.join(', ')}, got ${JSON.stringify(v)}`);
  return m as SslMode;
}

/** The TLS settings in a mysql:// URL's query; an unknown or repeated option is a ConfigError naming it. */
export function tlsFromUrl(url: URL, field = 'mysql.url'): TlsSettings {
  const out: { mode?: SslMode; ca?: string; cert?: string; key?: string } = {};
  const seen = new Set<string>();
  for (const [name, value] of url.searchParams) {
    if (!(name in URL_OPTIONS)) throw new ConfigError(field, `unknown option "${name}" (known: ${Object.keys(URL_OPTIONS).join(', ')})`);
    if (seen.has(name)) throw new ConfigError(field, `option "${name}" is given twice`);
    seen.add(name);
    if (value === '') throw new ConfigError(field, `option "${name}" is empty`);
    const key = URL_OPTIONS[name as UrlOption];
    if (key === 'mode') out.mode = parseSslMode(value, `${field} ssl-mode`);
    else out[key] = value;
  }
  const settings: TlsSettings = { mode: out.mode ?? 'DISABLED' };
  if (out.ca !== undefined) settings.ca = out.ca;
  if (out.cert !== undefined) settings.cert = out.cert;
  if (out.key !== undefined) settings.key = out.key;
  checkTls(settings, out.mode !== undefined, field);
  return settings;
}

/** Settings that contradict each other are refused rather than half applied. */
export function checkTls(s: TlsSettings, modeGiven: boolean, field: string): void {
  const files = (['ca', 'cert', 'key'] as const).filter((k) => s[k] !== undefined);
  if (s.mode === 'DISABLED' && files.length > 0) {
    throw new ConfigError(field, `ssl-${files[0]} is set but ssl-mode is DISABLED${modeGiven ? '' : ' (the default)'}: set ssl-mode=VERIFY_IDENTITY (or VERIFY_CA, REQUIRED)`);
  }
  if (s.mode === 'REQUIRED' && s.ca !== undefined) {
    throw new ConfigError(field, 'ssl-ca is not used by ssl-mode REQUIRED, which encrypts without checking the certificate: use VERIFY_CA or VERIFY_IDENTITY to check it against ssl-ca');
  }
  if ((s.cert === undefined) !== (s.key === undefined)) throw new ConfigError(field, 'ssl-cert and ssl-key go together (the client certificate and its private key)');
}

const CONFIG_FIELD: Record<Files, string> = { ca: 'mysql.sslCa', cert: 'mysql.sslCert', key: 'mysql.sslKey' };

/** How a config error names a file setting: the URL option and the config field. */
function fileField(which: Files): string {
  return `ssl-${which} (${CONFIG_FIELD[which]})`;
}

function readPem(s: TlsSettings, which: Files): Buffer | undefined {
  const path = s[which];
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(fileField(which), `cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * The mysql2 `ssl` option for the settings (undefined: plain TCP). The files are read here, at
 * every connection, so a renewed certificate is used from the next reconnect on.
 */
export function sslOptions(s: TlsSettings): SslOptions | undefined {
  if (s.mode === 'DISABLED') return undefined;
  const ssl: SslOptions = {
    // mysql2 checks the chain when rejectUnauthorized is set, and the host name only with verifyIdentity.
    rejectUnauthorized: s.mode !== 'REQUIRED',
    verifyIdentity: s.mode === 'VERIFY_IDENTITY',
  };
  const ca = readPem(s, 'ca');
  const cert = readPem(s, 'cert');
  const key = readPem(s, 'key');
  if (ca !== undefined) ssl.ca = ca;
  if (cert !== undefined) ssl.cert = cert;
  if (key !== undefined) ssl.key = key;
  return ssl;
}

/** Reads and parses the PEM files now, so a wrong path or a broken file stops sdl at start (exit 2). */
export function checkTlsFiles(s: TlsSettings): void {
  const ssl = sslOptions(s);
  if (ssl === undefined) return;
  for (const which of ['ca', 'cert', 'key'] as const) {
    if (ssl[which] === undefined) continue;
    try {
      // createSecureContext takes a CA file with no certificate in it without a word; X509Certificate does not (it reads the first).
      if (which === 'key') createSecureContext({ key: ssl.key });
      else new X509Certificate(ssl[which] as Buffer);
    } catch (err) {
      throw new ConfigError(fileField(which), `${s[which]} is not a usable PEM ${which === 'key' ? 'private key' : 'certificate'}: ${(err as Error).message}`);
    }
  }
  if (ssl.cert !== undefined) {
    try {
      createSecureContext({ cert: ssl.cert, key: ssl.key });
    } catch (err) {
      throw new ConfigError(fileField('key'), `${s.key} does not belong to the certificate in ${s.cert}: ${(err as Error).message}`);
    }
  }
}

// What Node reports when the TCP connection broke during the handshake: the network, not TLS.
const HANDSHAKE_NETWORK = /ECONNRESET|EPIPE|ETIMEDOUT|socket hang up|disconnected before secure TLS/i;

/**
 * A TLS failure of a MySQL connection, explained: the certificate, the host name or the server's
 * lack of TLS. These are configuration errors (exit 2, never retried): trying again only repeats
 * the refusal, and a certificate that does not match may be someone else's server. A connection
 * lost mid-handshake is not one of them (undefined: classify it as usual).
 */
export function explainTlsError(err: unknown, s: TlsSettings, host: string): SdlError | undefined {
  const e = err as { code?: unknown; message?: unknown; reason?: unknown; syscall?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT') {
    return new SdlError('TLS', `TLS: the MySQL server at ${host} does not offer TLS, and ssl-mode is ${s.mode}`, 'config',
      'start the server with ssl_cert/ssl_key (and ssl_ca), or set ssl-mode=DISABLED to connect without TLS');
  }
  if (code !== 'HANDSHAKE_SSL_ERROR' && !/^(ERR_TLS_|ERR_SSL_)|CERT|_ISSUER|LEAF_SIGNATURE/.test(code)) return undefined;
  if (typeof e.syscall === 'string' || HANDSHAKE_NETWORK.test(message)) return undefined;
  const ca = s.ca !== undefined ? `ssl-ca ${s.ca}` : 'the CAs Node trusts (no ssl-ca given)';
  if (/altnames|does not match certificate|ALTNAME/i.test(`${message} ${code}`)) {
    return new SdlError('TLS', `TLS: the MySQL server's certificate does not name the host "${host}" (ssl-mode VERIFY_IDENTITY): ${message}`, 'config',
      'connect by a name the server certificate lists in its subjectAltName, or use ssl-mode=VERIFY_CA to check the CA only');
  }
  if (/self[- ]signed|unable to (verify|get (local )?issuer)|issuer certificate|certificate chain|untrusted|signature failure/i.test(message)) {
    return new SdlError('TLS', `TLS: the MySQL server's certificate is not signed by ${ca} (ssl-mode ${s.mode}): ${message}`, 'config',
      'set ssl-ca to the CA certificate that signed the server\'s certificate');
  }
  return new SdlError('TLS', `TLS handshake with the MySQL server at ${host} failed (ssl-mode ${s.mode}, ${ca}): ${message}`, 'config',
    'check the server certificate (expiry, CA) and the ssl-* settings');
}
