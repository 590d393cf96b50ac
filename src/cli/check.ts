import { MongoClient } from 'mongodb';
import { redactUrl, type Config } from '../config/config.js';
import { probeCapabilities } from '../mongo/capabilities.js';
import { replicaSetFinding, writeConcernFinding } from '../mongo/target-findings.js';
import { connectExact, sessionTls, tlsOf } from '../mysql/connection.js';
import { preflight } from '../mysql/preflight.js';
import { cascadeFinding, cascadingForeignKeys } from '../mysql/cascades.js';
import { IncludeFilter } from '../mysql/include-filter.js';
import { privilegeFinding, retentionFinding, serverIdFinding } from '../mysql/source-checks.js';
import { effectiveServerId } from '../config/config.js';

/**
 * `sdl check`: source prerequisites and target capabilities, the write concern `sdl run` would
 * use and the replica set state; exit 2 when something is missing.
 */
export async function check(config: Config): Promise<number> {
  const report: Record<string, unknown> = { mysql: redactUrl(config.mysql.url), mongo: redactUrl(config.mongo.url) };
  let ok = true;
  try {
    const conn = await connectExact(config.mysql.url);
    try {
      // What the server negotiated with the connection every sdl connection is built like.
      const tls = await sessionTls(conn);
      report['tls'] = { sslMode: tlsOf(config.mysql.url).tls.mode, encrypted: tls.cipher !== '', version: tls.version, cipher: tls.cipher };
      const filter = new IncludeFilter(config.mysql.include);
      const cascades = await cascadingForeignKeys(conn, (d, t) => filter.includes(d, t));
      const findings = [await privilegeFinding(conn), await retentionFinding(conn), await serverIdFinding(conn, effectiveServerId(config)), cascadeFinding(cascades, config.mysql.allowForeignKeyCascades)];
      report['findings'] = findings;
      if (findings.some((f) => !f.ok)) ok = false;
      const server = await preflight(conn);
      report['source'] = { ok: true, version: server.version, mariadb: server.mariadb, firstBinlog: server.firstBinlog };
    } finally {
      await conn.end();
    }
  } catch (err) {
    ok = false;
    report['source'] = { ok: false, error: (err as Error).message };
  }
  const client = new MongoClient(config.mongo.url, { serverSelectionTimeoutMS: 10_000 });
  try {
    await client.connect();
    // A client of the URL's own options: its write concern (if any) is what the probe tries.
    const caps = await probeCapabilities(client, client.db(config.mongo.database));
    const findings = [writeConcernFinding(caps, config.mongo.allowWeakWriteConcern), replicaSetFinding(caps)];
    report['target'] = { ok: findings.every((f) => f.ok), findings, ...caps };
    if (findings.some((f) => !f.ok)) ok = false;
  } catch (err) {
    ok = false;
    report['target'] = { ok: false, error: (err as Error).message };
  } finally {
    await client.close();
  }
  process.stdout.write(JSON.stringify({ ok, ...report }, null, 2) + '\n');
  return ok ? 0 : 2;
}
