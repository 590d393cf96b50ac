import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { checkTlsFiles, parseSslMode, tlsFromUrl, URL_OPTIONS, type UrlOption } from '../mysql/tls.js';
import { ConfigError } from './config-error.js';
import { credentialPath, oneSecret } from './secrets.js';

export interface Config {
  /** Names the checkpoint, lease and staging documents: one pipeline per source → target pair. */
  pipeline: string;
  /** allowForeignKeyCascades: run although included tables are changed by ON DELETE/UPDATE actions the binlog does not carry (src/mysql/cascades.ts). */
  mysql: { url: string; serverId: number; include: string[]; heartbeatMs: number; allowForeignKeyCascades: boolean };
  /** allowWeakWriteConcern: run with a write concern weaker than { w: majority, j: true } (see src/mongo/write-concern.ts). */
  mongo: { url: string; database: string; databaseMap: Record<string, string>; allowWeakWriteConcern: boolean };
  batch: { maxRows: number; maxBytes: number; maxDelayMs: number };
  /** Initial snapshot: rows read, decoded and committed per chunk (one snapshot checkpoint each). */
  snapshot: { chunkRows: number };
  /** Bytes of row data held between the binlog and MongoDB before reading pauses. */
  maxInFlightBytes: number;
  /**
   * V8 grows the heap to (1 + this/100) × what a full collection left live; 0 keeps V8's own
   * factor (up to 4×), which lets the garbage of a read burst reach several times the budget.
   */
  heapGrowthPercent: number;
  /** Decoder pool threads; 0 decodes on the main thread; `auto` picks by CPUs (see decoderWorkers). */
  workers: number | 'auto';
  /** Stage each batch before applying it (the crash-recovery log); off only to measure its cost. */
  staging: boolean;
  /** Single-writer lease: a standby takes over this long after the writer stops renewing. */
  leaseTtlMs: number;
  http: { addr: string };
  log: { level: string };
}

export const DEFAULTS: Config = {
  pipeline: 'default',
  mysql: { url: '', serverId: 0, include: [], heartbeatMs: 5000, allowForeignKeyCascades: false },
  mongo: { url: '', database: 'sdl', databaseMap: {}, allowWeakWriteConcern: false },
  batch: { maxRows: 5000, maxBytes: 8 * 1024 * 1024, maxDelayMs: 200 },
  snapshot: { chunkRows: 2000 },
  maxInFlightBytes: 32 * 1024 * 1024,
  heapGrowthPercent: 50,
  workers: 'auto',
  staging: true,
  leaseTtlMs: 15_000,
  http: { addr: '127.0.0.1:9464' },
  log: { level: 'info' },
};

export { ConfigError };

type Env = Record<string, string | undefined>;

/** Reads the file (YAML or JSON), applies SDL_* overrides, validates; throws ConfigError naming the field. */
export function loadConfig(path: string | undefined, env: Env = process.env): Config {
  let file: unknown = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError('--config', `cannot read ${path}: ${(err as Error).message}`);
    }
    try {
      file = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError('--config', `${path} is not valid YAML/JSON: ${(err as Error).message}`);
    }
  }
  if (!isRecord(file)) throw new ConfigError('--config', 'the top level must be a mapping');
  const origins = new Map<string, string>();
  const merged = mergeEnv(file, env, origins);
  return validate(merged, env, (field) => origins.get(field) ?? field);
}

/** How the operator set a field, for error messages: its SDL_* variable if that set it, else the field. */
type LabelOf = (field: string) => string;

function mergeEnv(file: Record<string, unknown>, env: Env, origins: Map<string, string>): Record<string, unknown> {
  const out = structuredClone(file);
  const section = (name: string): Record<string, unknown> => {
    const s = out[name];
    if (s === undefined) return (out[name] = {});
    if (!isRecord(s)) throw new ConfigError(name, 'must be a mapping');
    return s;
  };
  const set = (key: string, apply: (v: string) => void): void => {
    const v = env[key];
    if (v !== undefined && v !== '') apply(v);
  };
  /** An override of `section.leaf`, remembering that the variable set it. */
  const over = (key: string, sectionName: string, leafName: string): void =>
    set(key, (v) => {
      section(sectionName)[leafName] = v;
      origins.set(`${sectionName}.${leafName}`, key);
    });
  over('SDL_MYSQL_URL', 'mysql', 'url');
  over('SDL_MYSQL_PASSWORD_FILE', 'mysql', 'passwordFile');
  over('SDL_MYSQL_SSL_MODE', 'mysql', 'sslMode');
  over('SDL_MYSQL_SSL_CA', 'mysql', 'sslCa');
  over('SDL_MYSQL_SSL_CERT', 'mysql', 'sslCert');
  over('SDL_MYSQL_SSL_KEY', 'mysql', 'sslKey');
  over('SDL_MONGO_URL_FILE', 'mongo', 'urlFile');
  set('SDL_SERVER_ID', (v) => (section('mysql')['serverId'] = v));
  set('SDL_MYSQL_HEARTBEAT_MS', (v) => (section('mysql')['heartbeatMs'] = v));
  set('SDL_MYSQL_ALLOW_FOREIGN_KEY_CASCADES', (v) => (section('mysql')['allowForeignKeyCascades'] = v));
  set('SDL_INCLUDE', (v) => (section('mysql')['include'] = v.split(',').map((s) => s.trim()).filter((s) => s !== '')));
  over('SDL_MONGO_URL', 'mongo', 'url');
  set('SDL_MONGO_DATABASE', (v) => (section('mongo')['database'] = v));
  set('SDL_MONGO_ALLOW_WEAK_WRITE_CONCERN', (v) => (section('mongo')['allowWeakWriteConcern'] = v));
  set('SDL_HTTP_ADDR', (v) => (section('http')['addr'] = v));
  set('SDL_LOG_LEVEL', (v) => (section('log')['level'] = v));
  set('SDL_PIPELINE', (v) => (out['pipeline'] = v));
  set('SDL_HEAP_GROWTH_PERCENT', (v) => (out['heapGrowthPercent'] = v));
  set('SDL_WORKERS', (v) => (out['workers'] = v));
  set('SDL_LEASE_TTL_MS', (v) => (out['leaseTtlMs'] = v));
  set('SDL_STAGING', (v) => (out['staging'] = v));
  set('SDL_SNAPSHOT_CHUNK_ROWS', (v) => (section('snapshot')['chunkRows'] = v));
  return out;
}

/** Settings of each section that are read from the file or environment but not kept as such in Config. */
const INPUT_ONLY: Record<string, readonly string[]> = {
  mysql: ['passwordFile', 'sslMode', 'sslCa', 'sslCert', 'sslKey'],
  mongo: ['urlFile'],
};

function validate(raw: Record<string, unknown>, env: Env, labelOf: LabelOf): Config {
  const known = new Set(Object.keys(DEFAULTS));
  for (const k of Object.keys(raw)) if (!known.has(k)) throw new ConfigError(k, 'unknown setting');
  for (const [name, dflt] of Object.entries(DEFAULTS)) {
    if (!isRecord(dflt) || !isRecord(raw[name])) continue;
    const fields = new Set([...Object.keys(dflt), ...(INPUT_ONLY[name] ?? [])]);
    for (const k of Object.keys(raw[name])) if (!fields.has(k)) throw new ConfigError(`${name}.${k}`, 'unknown setting');
  }
  const mysql = sub(raw, 'mysql');
  const mongo = sub(raw, 'mongo');
  mysql['url'] = mysqlUrl(mysql, env, labelOf);
  mongo['url'] = mongoUrl(mongo, env, labelOf);
  const batch = sub(raw, 'batch');
  const snapshot = sub(raw, 'snapshot');
  const http = sub(raw, 'http');
  const log = sub(raw, 'log');
  const cfg: Config = {
    pipeline: str(raw, 'pipeline', DEFAULTS.pipeline, /^[A-Za-z0-9_.-]{1,64}$/),
    mysql: {
      url: url(mysql, 'mysql.url', ['mysql:', 'mariadb:']),
      serverId: int(mysql, 'mysql.serverId', DEFAULTS.mysql.serverId, 0, 2 ** 32 - 1),
      include: strList(mysql, 'mysql.include'),
      heartbeatMs: int(mysql, 'mysql.heartbeatMs', DEFAULTS.mysql.heartbeatMs, 100, 3_600_000),
      allowForeignKeyCascades: bool(mysql, 'mysql.allowForeignKeyCascades', DEFAULTS.mysql.allowForeignKeyCascades),
    },
    mongo: {
      url: url(mongo, 'mongo.url', ['mongodb:', 'mongodb+srv:']),
      database: str(mongo, 'mongo.database', DEFAULTS.mongo.database, /^[^/\\. "$*<>:|?]{1,63}$/),
      databaseMap: strMap(mongo, 'mongo.databaseMap'),
      allowWeakWriteConcern: bool(mongo, 'mongo.allowWeakWriteConcern', DEFAULTS.mongo.allowWeakWriteConcern),
    },
    batch: {
      maxRows: int(batch, 'batch.maxRows', DEFAULTS.batch.maxRows, 1, 1_000_000),
      maxBytes: int(batch, 'batch.maxBytes', DEFAULTS.batch.maxBytes, 1024, 1024 ** 3),
      maxDelayMs: int(batch, 'batch.maxDelayMs', DEFAULTS.batch.maxDelayMs, 0, 600_000),
    },
    snapshot: { chunkRows: int(snapshot, 'snapshot.chunkRows', DEFAULTS.snapshot.chunkRows, 1, 100_000) },
    maxInFlightBytes: int(raw, 'maxInFlightBytes', DEFAULTS.maxInFlightBytes, 1024 * 1024, 16 * 1024 ** 3),
    heapGrowthPercent: int(raw, 'heapGrowthPercent', DEFAULTS.heapGrowthPercent, 0, 400),
    workers: workersSetting(raw),
    staging: bool(raw, 'staging', DEFAULTS.staging),
    leaseTtlMs: int(raw, 'leaseTtlMs', DEFAULTS.leaseTtlMs, 1000, 600_000),
    http: { addr: str(http, 'http.addr', DEFAULTS.http.addr, /^[^\s]*:\d{1,5}$|^off$/) },
    log: { level: str(log, 'log.level', DEFAULTS.log.level, /^(fatal|error|warn|info|debug|trace|silent)$/) },
  };
  if (cfg.batch.maxBytes * 2 > cfg.maxInFlightBytes) {
    throw new ConfigError('maxInFlightBytes', `must be at least twice batch.maxBytes (${cfg.batch.maxBytes})`);
  }
  return cfg;
}

function optStr(o: Record<string, unknown>, field: string, labelOf: LabelOf): string | undefined {
  const v = o[leaf(field)];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw new ConfigError(labelOf(field), `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * mysql.url with everything sdl connects with folded in: the password from a file or systemd
 * credential, and the TLS settings of the config file or environment as the URL's query
 * options (see exactOptions, the one place connection options are built from it).
 */
function mysqlUrl(mysql: Record<string, unknown>, env: Env, labelOf: LabelOf): unknown {
  const given = mysql['url'];
  // Missing or not a string: url() below says so.
  if (typeof given !== 'string' || given === '') return given;
  let u: URL;
  try {
    u = new URL(given);
  } catch {
    throw new ConfigError('mysql.url', 'is not a URL');
  }
  const file = optStr(mysql, 'mysql.passwordFile', labelOf);
  const credential = credentialPath(env, 'mysql-password');
  const password = oneSecret('mysql.url', 'the MySQL password', [
    u.password !== '' ? { label: `the password in ${labelOf('mysql.url')}` } : undefined,
    file !== undefined ? { label: labelOf('mysql.passwordFile'), file } : undefined,
    credential !== undefined ? { label: '$CREDENTIALS_DIRECTORY/mysql-password', file: credential } : undefined,
  ]);
  if (password !== undefined && u.password === '') {
    if (u.username === '') throw new ConfigError('mysql.url', 'names no user for the password read from a file (mysql://USER@host:port)');
    // encodeURIComponent first: the setter would leave a literal % that exactOptions then decodes.
    u.password = encodeURIComponent(password);
  }

  const fromUrl = tlsFromUrl(u);
  const modeInUrl = u.searchParams.has('ssl-mode');
  const fields: Record<UrlOption, string> = { 'ssl-mode': 'mysql.sslMode', 'ssl-ca': 'mysql.sslCa', 'ssl-cert': 'mysql.sslCert', 'ssl-key': 'mysql.sslKey' };
  for (const [option, field] of Object.entries(fields) as [UrlOption, string][]) {
    let v = optStr(mysql, field, labelOf);
    if (v === undefined) continue;
    if (option === 'ssl-mode') v = parseSslMode(v, labelOf(field));
    const inUrl = option === 'ssl-mode' ? (modeInUrl ? fromUrl.mode : undefined) : fromUrl[URL_OPTIONS[option]];
    if (inUrl !== undefined && inUrl !== v) throw new ConfigError(labelOf(field), `says ${JSON.stringify(v)} but mysql.url has ${option}=${JSON.stringify(inUrl)}: give it once`);
    u.searchParams.set(option, v);
  }
  const tls = tlsFromUrl(u, 'mysql.url (with the mysql.ssl* settings)');
  checkTlsFiles(tls);
  return u.toString();
}

/** mongo.url, or the whole URL from a file or systemd credential (it holds the password). */
function mongoUrl(mongo: Record<string, unknown>, env: Env, labelOf: LabelOf): unknown {
  const given = mongo['url'];
  const file = optStr(mongo, 'mongo.urlFile', labelOf);
  const credential = credentialPath(env, 'mongo-url');
  const fromFile = oneSecret('mongo.url', 'the MongoDB URL', [
    given !== undefined && given !== '' ? { label: labelOf('mongo.url') } : undefined,
    file !== undefined ? { label: labelOf('mongo.urlFile'), file } : undefined,
    credential !== undefined ? { label: '$CREDENTIALS_DIRECTORY/mongo-url', file: credential } : undefined,
  ]);
  return given !== undefined && given !== '' ? given : fromFile;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sub(raw: Record<string, unknown>, name: string): Record<string, unknown> {
  const v = raw[name];
  if (v === undefined) return {};
  if (!isRecord(v)) throw new ConfigError(name, 'must be a mapping');
  return v;
}

function leaf(field: string): string {
  return field.slice(field.lastIndexOf('.') + 1);
}

function str(o: Record<string, unknown>, field: string, dflt: string, re: RegExp): string {
  const v = o[leaf(field)] ?? dflt;
  if (typeof v !== 'string' || !re.test(v)) throw new ConfigError(field, `invalid value ${JSON.stringify(v)}`);
  return v;
}

function int(o: Record<string, unknown>, field: string, dflt: number, min: number, max: number): number {
  const v = o[leaf(field)] ?? dflt;
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

function workersSetting(raw: Record<string, unknown>): number | 'auto' {
  const v = raw['workers'];
  if (v === undefined || v === 'auto') return 'auto';
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 64) throw new ConfigError('workers', `must be auto or an integer from 0 to 64, got ${JSON.stringify(v)}`);
  return n;
}

function bool(o: Record<string, unknown>, field: string, dflt: boolean): boolean {
  const v = o[leaf(field)] ?? dflt;
  if (v === 'true' || v === true) return true;
  if (v === 'false' || v === false) return false;
  throw new ConfigError(field, `must be true or false, got ${JSON.stringify(v)}`);
}

function url(o: Record<string, unknown>, field: string, protocols: string[]): string {
  const v = o[leaf(field)];
  if (v === undefined || v === '') throw new ConfigError(field, `is required (or set its SDL_* environment variable)`);
  if (typeof v !== 'string') throw new ConfigError(field, `must be a URL string, got ${JSON.stringify(v)}`);
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new ConfigError(field, 'is not a URL');
  }
  if (!protocols.includes(parsed.protocol)) throw new ConfigError(field, `must start with ${protocols.join(' or ')}//`);
  return v;
}

function strList(o: Record<string, unknown>, field: string): string[] {
  const v = o[leaf(field)] ?? [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || !/^[^.\s]+(\.[^.\s]+)?$/.test(s))) {
    throw new ConfigError(field, 'must be a list of "db" or "db.table"');
  }
  return v as string[];
}

function strMap(o: Record<string, unknown>, field: string): Record<string, string> {
  const v = o[leaf(field)] ?? {};
  if (!isRecord(v) || Object.values(v).some((s) => typeof s !== 'string')) {
    throw new ConfigError(field, 'must map source database names to MongoDB database names');
  }
  return v as Record<string, string>;
}

/** The URL with its password replaced, for logs. */
export function redactUrl(u: string): string {
  try {
    const parsed = new URL(u);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable url>';
  }
}

/** The replication server id: the configured one, else one stable per pipeline, outside the range servers usually use. */
export function effectiveServerId(config: Pick<Config, 'pipeline' | 'mysql'>): number {
  if (config.mysql.serverId !== 0) return config.mysql.serverId;
  let h = 0;
  for (const ch of config.pipeline) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return 1_000_000 + (h % 1_000_000_000);
}
