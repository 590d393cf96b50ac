import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, redactUrl } from '../../src/config/config.js';

const env = { SDL_MYSQL_URL: 'mysql://repl:s3cret@db:3306', SDL_MONGO_URL: 'mongodb://m:27017' };

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.field;
  }
  assert.fail('no ConfigError');
}

describe('configuration', () => {
  it('takes the file, then the SDL_* overrides', () => {
    const file = join(tmpdir(), `sdl-config-${process.pid}.yaml`);
    writeFileSync(file, 'pipeline: orders\nmysql:\n  include: [shop]\nbatch:\n  maxRows: 100\n');
    const cfg = loadConfig(file, { ...env, SDL_INCLUDE: 'shop.orders, crm', SDL_WORKERS: '0' });
    assert.equal(cfg.pipeline, 'orders');
    assert.deepEqual(cfg.mysql.include, ['shop.orders', 'crm']);
    assert.equal(cfg.batch.maxRows, 100);
    assert.equal(cfg.workers, 0);
    assert.equal(cfg.mongo.database, 'sdl');
    assert.equal(loadConfig(undefined, env).workers, 'auto');
    assert.equal(loadConfig(undefined, { ...env, SDL_WORKERS: 'auto' }).workers, 'auto');
    assert.equal(loadConfig(undefined, { ...env, SDL_WORKERS: '3' }).workers, 3);
    assert.equal(loadConfig(undefined, env).heapGrowthPercent, 50);
    assert.equal(loadConfig(undefined, { ...env, SDL_HEAP_GROWTH_PERCENT: '0' }).heapGrowthPercent, 0);
  });

  it('names the field that is wrong', () => {
    assert.equal(fieldOf(() => loadConfig(undefined, {})), 'mysql.url');
    assert.equal(fieldOf(() => loadConfig(undefined, { ...env, SDL_MONGO_URL: 'http://x' })), 'mongo.url');
    assert.equal(fieldOf(() => loadConfig(undefined, { ...env, SDL_WORKERS: 'many' })), 'workers');
    assert.equal(fieldOf(() => loadConfig(undefined, { ...env, SDL_WORKERS: '-1' })), 'workers');
    assert.equal(fieldOf(() => loadConfig(undefined, { ...env, SDL_INCLUDE: 'a.b.c' })), 'mysql.include');
    assert.equal(fieldOf(() => loadConfig(undefined, { ...env, SDL_HEAP_GROWTH_PERCENT: '500' })), 'heapGrowthPercent');
    const file = join(tmpdir(), `sdl-config-bad-${process.pid}.yaml`);
    writeFileSync(file, 'batch:\n  maxRows: -1\n');
    assert.equal(fieldOf(() => loadConfig(file, env)), 'batch.maxRows');
    writeFileSync(file, 'colour: blue\n');
    assert.equal(fieldOf(() => loadConfig(file, env)), 'colour');
  });

  it('never shows a password', () => {
    assert.equal(redactUrl(env.SDL_MYSQL_URL), 'mysql://repl:***@db:3306');
  });
});
