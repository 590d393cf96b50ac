import { MongoClient, type Db } from 'mongodb';
import { Decoder, decoderWorkers } from '../actors/decoder-pool.js';
import { mirrorStrategyFor } from '../actors/committer-io.js';
import type { Config } from '../config/config.js';
import { FULL_CAPABILITIES } from '../decode/wire.js';
import { probeCapabilities } from '../mongo/capabilities.js';
import { copyUnderWayMessage, unfinishedCopiesOf } from '../mongo/table-snapshots.js';
import { IncludeFilter } from '../mysql/include-filter.js';
import { FERRETDB_CHUNK } from '../mongo/write-shape.js';
import { orphanMirrors } from '../verify/orphan-mirrors.js';
import { verify, type TableReport, type VerifyReport } from '../verify/verify.js';

export interface VerifyCommandOptions {
  /** `db.table` names; all included tables when absent. */
  tables?: readonly string[];
  json?: boolean;
  repair?: boolean;
}

/**
 * `sdl verify`: every mirrored table (or `--tables`) against MySQL; exit 0 equal, 1 different.
 * With `--repair`, the differing keys are copied again, and the exit is 0 when every one was.
 */
export async function verifyCommand(config: Config, opts: VerifyCommandOptions = {}): Promise<number> {
  const client = new MongoClient(config.mongo.url, { serverSelectionTimeoutMS: 10_000 });
  let decoder: Decoder | undefined;
  try {
    const db = client.db(config.mongo.database);
    const refuse = repairRefusal(db, config, opts.tables);
    if (opts.repair === true) {
      // Before anything is read: a repair now would be refused anyway.
      const message = await refuse(null);
      if (message !== undefined) {
        process.stderr.write(message + '\n');
        return 1;
      }
    }
    const probed = await probeCapabilities(client, db);
    const caps = { ...FULL_CAPABILITIES, decimal128: probed.decimal128, nestedArrays: probed.nestedArrays, dottedKeys: probed.dottedKeys };
    decoder = new Decoder({ workers: decoderWorkers(config.workers).workers, caps });
    const report = await verify({
      mysqlUrl: config.mysql.url,
      include: config.mysql.include,
      mongo: client,
      databaseMap: config.mongo.databaseMap,
      caps,
      decoder,
      pipeline: { db, name: config.pipeline },
      ...(opts.tables !== undefined ? { tables: opts.tables } : {}),
      ...(opts.repair === true
        ? {
            repair: {
              commit: {
                client,
                db,
                caps: probed,
                pipeline: config.pipeline,
                databaseMap: config.mongo.databaseMap,
                stagingEnabled: false,
                mirrorStrategy: mirrorStrategyFor(probed),
                ...(probed.ferretdb !== undefined ? { limits: FERRETDB_CHUNK } : {}),
              },
              refuse,
            },
          }
        : {}),
    });
    // Only over the whole pipeline: --tables names the tables to compare, not where to look for others.
    const orphans = opts.tables !== undefined ? [] : await orphanMirrors({
      mysqlUrl: config.mysql.url, include: config.mysql.include, client, sdlDb: db, pipeline: config.pipeline, databaseMap: config.mongo.databaseMap, repair: opts.repair === true,
    });
    const full: VerifyReport = { ...report, ok: report.ok && orphans.every((m) => m.removed === true), ...(orphans.length > 0 ? { orphans } : {}) };
    process.stdout.write(opts.json === true ? JSON.stringify(full, null, 2) + '\n' : humanReport(full));
    return full.ok ? 0 : 1;
  } finally {
    await decoder?.close();
    await client.close();
  }
}

/**
 * The refusal of `--repair` while an online copy of a table it would write is unfinished (its
 * writes are not serialized with the repair's): for one table, or (null) every table verified.
 */
function repairRefusal(db: Db, config: Config, tables: readonly string[] | undefined): (t: { db: string; table: string } | null) => Promise<string | undefined> {
  const include = new IncludeFilter(config.mysql.include);
  return async (t) => {
    const copies = await unfinishedCopiesOf(db, (c) =>
      t !== null ? c.db === t.db && c.table === t.table : tables !== undefined ? tables.includes(`${c.db}.${c.table}`) : include.includes(c.db, c.table),
    );
    return copies.length === 0 ? undefined : copyUnderWayMessage('sdl verify --repair', copies);
  };
}

/** One line per table, then the sample differences. */
export function humanReport(report: VerifyReport): string {
  const lines: string[] = [];
  for (const t of report.tables) lines.push(...tableLines(t));
  for (const m of report.orphans ?? []) {
    lines.push(`${m.db}.${m.collection}: mirror of ${m.table}, which the source does not have; ${m.removed === true ? 'removed' : '--repair removes it'}`);
  }
  lines.push(report.ok ? 'verify: equal' : 'verify: DIFFERENT');
  return lines.join('\n') + '\n';
}

function tableLines(t: TableReport): string[] {
  const name = `${t.db}.${t.table}`;
  if (t.skipped !== undefined) return [`${name}: skipped (${t.skipped})`];
  const c = t.counts;
  const out = [`${name}: ${t.sourceRows} rows, ${t.mirrorDocs} documents; missing ${c.missing}, extra ${c.extra}, different ${c.different}${c.unsettled > 0 ? `, unsettled ${c.unsettled}` : ''}`];
  for (const k of t.missing) out.push(`  missing    ${k}`);
  for (const k of t.extra) out.push(`  extra      ${k}`);
  for (const d of t.different) out.push(`  different  ${d.key} ${d.field}: mysql ${d.mysql}, mongo ${d.mongo}`);
  for (const k of t.unsettled) out.push(`  unsettled  ${k}`);
  if (t.repaired !== undefined) {
    const r = t.repaired;
    out.push(`  repaired: ${r.written} written, ${r.deleted} deleted, ${r.skippedNewer} left to a newer streamed change, ${r.failed} failed`);
  }
  if (t.repairRefused !== undefined) out.push(`  not repaired: ${t.repairRefused}`);
  return out;
}
