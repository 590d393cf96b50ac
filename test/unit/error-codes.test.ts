import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { driverCode, SDL_CODES, SdlError, type ErrorCode } from '../../src/errors.js';

const troubleshooting = fileURLToPath(new URL('../../../docs/troubleshooting.md', import.meta.url));

describe('error codes', () => {
  it('every code sdl raises is in the runbook table operators look codes up in', () => {
    const text = readFileSync(troubleshooting, 'utf8');
    const table = text.slice(text.indexOf('### Error codes'), text.indexOf('\n## ', text.indexOf('### Error codes')));
    const missing = Object.keys(SDL_CODES).filter((code) => !table.includes(`\`${code}\``));
    assert.deepEqual(missing, [], 'codes in src/errors.ts SDL_CODES missing from docs/troubleshooting.md#error-codes');
  });

  it('a code is either one of sdl\'s own or a driver\'s, passed through as written', () => {
    // The build is the test: if ErrorCode widened to string, these expect-errors would fail tsc.
    // @ts-expect-error a misspelt code of sdl's own
    const typo: ErrorCode = 'BINLOG_PURGD';
    // @ts-expect-error a driver's code only through driverCode (the classify functions)
    const raw = new SdlError('ECONNRESET', 'connection reset', 'transient');
    assert.equal(typo, 'BINLOG_PURGD');
    assert.equal(raw.code, 'ECONNRESET');
    assert.equal(new SdlError(driverCode('ECONNRESET'), 'connection reset', 'transient').code, 'ECONNRESET');
  });
});
