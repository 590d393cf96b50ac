import { SdlError } from '../errors.js';

/** A configuration problem: exit 2, the message names the field (and where its value came from). */
export class ConfigError extends SdlError {
  constructor(readonly field: string, problem: string) {
    super('CONFIG', `config ${field}: ${problem}`, 'config');
  }
}
