import { MongoClient } from 'mongodb';
import type { Config } from '../config/config.js';
import { probeCapabilities } from '../mongo/capabilities.js';
import { verify } from '../verify/verify.js';

/** `sdl verify`: every mirrored table against MySQL; exit 1 when anything differs. */
export async function verifyCommand(config: Config): Promise<number> {
  const client = new MongoClient(config.mongo.url, { serverSelectionTimeoutMS: 10_000 });
  try {
    const caps = await probeCapabilities(client, client.db(config.mongo.database));
    const report = await verify({ mysqlUrl: config.mysql.url, include: config.mysql.include, mongo: client, databaseMap: config.mongo.databaseMap, caps });
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return report.ok ? 0 : 1;
  } finally {
    await client.close();
  }
}
