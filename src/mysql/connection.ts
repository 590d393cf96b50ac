import { connect, isIP, type Socket } from 'node:net';
import mysql from 'mysql2/promise';
import type { ConnectionOptions } from 'mysql2';
import { explainTlsError, sslOptions, tlsFromUrl, type TlsSettings } from './tls.js';

/**
 * The one builder of MySQL connection options: every connection sdl makes (queries, snapshot,
 * verifier, `sdl check`, and zongji's two replication connections) is made from these, so TLS
 * and credentials cannot differ between them. The URL carries everything: user and password,
 * host and port, and the TLS settings in its query (`?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem`;
 * the config file's mysql.ssl* fields are merged into it when the config is loaded).
 *
 * Values stay exact: temporal values as text (microseconds and zero dates survive), TIMESTAMP
 * rendered in UTC, big integers, decimals and JSON as strings.
 */
export function exactOptions(url: string): ConnectionOptions {
  const u = new URL(url);
  const opts: ConnectionOptions = {
    host: u.hostname,
    port: u.port === '' ? 3306 : Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    charset: 'utf8mb4',
    dateStrings: true,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    // Parsed JSON has already rounded integers beyond 2^53.
    jsonStrings: true,
    connectTimeout: 10_000,
  };
  const tls = tlsFromUrl(u);
  const ssl = sslOptions(tls);
  if (ssl !== undefined) opts.ssl = ssl;
  if (tls.mode === 'VERIFY_IDENTITY' && isIP(u.hostname.replace(/^\[|\]$/g, '')) !== 0) opts.stream = socketNamed(u.hostname.replace(/^\[|\]$/g, ''), opts.port ?? 3306);
  return opts;
}

/**
 * The TCP socket mysql2 would make, carrying the address it connects to where Node's TLS looks
 * for the name to check. mysql2 gives Node no server name for an IP address, and Node then
 * checks the certificate against "localhost" (measured: a certificate for localhost passed at
 * 127.0.0.1), so VERIFY_IDENTITY by address would accept any certificate naming localhost.
 */
function socketNamed(host: string, port: number): () => Socket {
  return () => {
    const socket = connect(port, host);
    // Read by Node's tls.connect (options.socket._host) when no servername is given.
    (socket as Socket & { _host: string | null })._host = host;
    // What mysql2 does with the sockets it makes itself.
    socket.setNoDelay(true);
    socket.on('connect', () => socket.setKeepAlive(true, 1));
    return socket;
  };
}

/** The URL's TLS settings and host, for explaining a failure. */
export function tlsOf(url: string): { tls: TlsSettings; host: string } {
  const u = new URL(url);
  return { tls: tlsFromUrl(u), host: u.hostname };
}

/**
 * A connection error as sdl reports it: a TLS failure becomes a configuration error saying
 * whether the certificate's CA or its host name is wrong; anything else is returned as is.
 */
export function explainConnectError(err: unknown, url: string): unknown {
  const { tls, host } = tlsOf(url);
  return explainTlsError(err, tls, host) ?? err;
}

export async function connectExact(url: string, database?: string): Promise<mysql.Connection> {
  const opts = exactOptions(url);
  if (database !== undefined) opts.database = database;
  try {
    return await mysql.createConnection(opts);
  } catch (err) {
    throw explainConnectError(err, url);
  }
}

/**
 * What the server says about this session's TLS (`Ssl_version`, `Ssl_cipher`): empty values
 * mean a plain connection. Asked of the server, so it shows what was negotiated, not what was asked for.
 */
export async function sessionTls(conn: mysql.Connection): Promise<{ version: string; cipher: string }> {
  const [rows] = await conn.query("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')");
  const get = (name: string): string => (rows as { Variable_name: string; Value: string }[]).find((r) => r.Variable_name === name)?.Value ?? '';
  return { version: get('Ssl_version'), cipher: get('Ssl_cipher') };
}
