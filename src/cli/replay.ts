import { MongoClient } from 'mongodb';
import type { Config } from '../config/config.js';
import { replayDeadLetters } from '../mongo/dead-letters.js';

/** `sdl replay`: writes every unreplayed dead letter again (after the cause is fixed); exit 1 if any still fails. */
export async function replay(config: Config): Promise<number> {
  const client = new MongoClient(config.mongo.url, { serverSelectionTimeoutMS: 10_000 });
  try {
    const result = await replayDeadLetters(client, client.db(config.mongo.database));
    process.stdout.write(JSON.stringify(result) + '\n');
    return result.failed === 0 ? 0 : 1;
  } finally {
    await client.close();
  }
}
