import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COLUMN_TYPES } from '../support/gen/columns.js';
import { addColumnDefaults } from '../support/gen/defaults.js';
import { MariaDb } from '../support/mariadb.js';
import { Scratch } from '../support/processes.js';

/**
 * The generator's ADD COLUMN … DEFAULT must be statements MariaDB takes: one it refuses fails a
 * whole generated case for a reason that is not sdl's (CI once drew `DEFAULT 'é ü ß ✓'` on a utf8mb4
 * TEXT in a latin1 table, error 1918). Each default is also the value its literal stores (with a
 * _utf8mb4 introducer MariaDB stored 'é' as the text `\xC3\xA9`), so the model's rows hold what
 * an INSERT of that literal would.
 */
describe('generated ADD COLUMN defaults against MariaDB', () => {
  let scratch: Scratch;
  let mariadb: MariaDb;
  before(async () => {
    scratch = new Scratch('sdl-gendef-');
    mariadb = await MariaDb.start(scratch);
  });
  after(async () => {
    await mariadb?.stop();
    scratch?.dispose();
  });

  it('every default of every column type is accepted on each engine and stores what its literal stores', async () => {
    const conn = await mariadb.connect();
    try {
      await conn.query('CREATE DATABASE gd');
      await conn.query("SET SESSION sql_mode = '', time_zone = '+00:00'");
      let tried = 0;
      const failures: string[] = [];
      for (const engine of ['InnoDB', 'MyISAM', 'Aria']) {
        for (const type of COLUMN_TYPES) {
          for (const def of addColumnDefaults(type, type.values)) {
            const t = `gd.t_${engine}`;
            await conn.query(`CREATE OR REPLACE TABLE ${t} (k INT PRIMARY KEY, v BIGINT NOT NULL DEFAULT 0) ENGINE=${engine}`);
            await conn.query(`INSERT INTO ${t} (k) VALUES (1)`);
            const sql = `ALTER TABLE ${t} ADD COLUMN c ${type.sql} NOT NULL DEFAULT ${def.sql}`;
            const refused = await conn.query(sql).then(() => undefined, (err: Error) => err.message);
            if (refused !== undefined) {
              failures.push(`${engine} ${type.id}: ${sql}: ${refused}`);
              continue;
            }
            await conn.query(`INSERT INTO ${t} (k, c) VALUES (2, ${def.value})`);
            const [rows] = await conn.query(`SELECT k, HEX(c) AS h FROM ${t} ORDER BY k`);
            const [took, inserted] = (rows as { h: string }[]).map((r) => r.h);
            if (took !== inserted) failures.push(`${engine} ${type.id}: the row that took DEFAULT ${def.sql} holds ${took ?? 'nothing'}, ${def.value} stores ${inserted ?? 'nothing'}`);
            tried++;
          }
        }
      }
      assert.deepEqual(failures, []);
      assert.ok(tried > 100, `tried ${tried} defaults`);
    } finally {
      await conn.end();
    }
  });
});
