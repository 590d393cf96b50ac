import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './config-error.js';

/**
 * Secrets from files, so they stay out of the environment (readable in /proc/PID/environ by the
 * same user, inherited by children) and out of the process list: a file named by a setting
 * (`SDL_MYSQL_PASSWORD_FILE`, `SDL_MONGO_URL_FILE`) or a systemd credential
 * (`LoadCredential=` puts it in `$CREDENTIALS_DIRECTORY`, readable by the service only).
 */

/** A secret in a file: its text without the trailing newline editors and `echo` add. `label` names the setting in errors. */
export function readSecretFile(path: string, label: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(label, `cannot read ${path}: ${(err as Error).message}`);
  }
  const secret = text.replace(/[\r\n]+$/, '');
  if (secret === '') throw new ConfigError(label, `${path} is empty`);
  return secret;
}

/** A systemd credential's path when the service has one of that name (LoadCredential=NAME:…), else undefined. */
export function credentialPath(env: Record<string, string | undefined>, name: string): string | undefined {
  const dir = env['CREDENTIALS_DIRECTORY'];
  if (dir === undefined || dir === '') return undefined;
  const path = join(dir, name);
  return existsSync(path) ? path : undefined;
}

/** One place a secret may be given: inline (in a URL or variable) or in a file. */
export interface SecretSource {
  /** How the operator set it: a config field, an environment variable or a credential. */
  label: string;
  /** The file holding it; absent when it is given inline. */
  file?: string;
}

/**
 * Refuses a secret given in two places rather than pick one silently (a ConfigError naming
 * both). Returns the secret read from the file when the one place given is a file; undefined
 * when it is given inline or not at all.
 */
export function oneSecret(field: string, what: string, sources: readonly (SecretSource | undefined)[]): string | undefined {
  const given = sources.filter((s): s is SecretSource => s !== undefined);
  if (given.length > 1) throw new ConfigError(field, `${what} is given ${given.length} times (${given.map((s) => s.label).join(', ')}): give it once`);
  const s = given[0];
  return s?.file === undefined ? undefined : readSecretFile(s.file, s.label);
}
