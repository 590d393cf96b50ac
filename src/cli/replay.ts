import type { Config } from '../config/config.js';
import { replayDeadLetters } from '../mongo/dead-letters.js';
import { MongoTarget } from '../mongo/target.js';

/** `sdl replay`: writes every unreplayed dead letter again (after the cause is fixed); exit 1 if any still fails. */
export async function replay(config: Config): Promise<number> {
  // The same write concern policy as `sdl run` (a too weak one is refused, exit 2).
  const target = new MongoTarget({ url: config.mongo.url, database: config.mongo.database, allowWeakWriteConcern: config.mongo.allowWeakWriteConcern }, { serverSelectionTimeoutMS: 10_000 });
  try {
    const { client, db } = await target.connect();
    const result = await replayDeadLetters(client, db);
    process.stdout.write(JSON.stringify(result) + '\n');
    return result.failed === 0 ? 0 : 1;
  } finally {
    await target.close();
  }
}
