import type { Config } from '../config/config.js';
import { replayDeadLetters, unreplayedMirrorTables } from '../mongo/dead-letters.js';
import { copyUnderWayMessage, unfinishedCopiesOf } from '../mongo/table-snapshots.js';
import { MongoTarget } from '../mongo/target.js';

/** `sdl replay`: writes every unreplayed dead letter again (after the cause is fixed); exit 1 if any still fails. */
export async function replay(config: Config): Promise<number> {
  // The same write concern policy as `sdl run` (a too weak one is refused, exit 2).
  const target = new MongoTarget({ url: config.mongo.url, database: config.mongo.database, allowWeakWriteConcern: config.mongo.allowWeakWriteConcern }, { serverSelectionTimeoutMS: 10_000 });
  try {
    const { client, db } = await target.connect();
    // A mirror a dead letter would be written to while an online copy of its table runs: the two are not serialized.
    const tables = new Set(await unreplayedMirrorTables(db));
    const copies = await unfinishedCopiesOf(db, (t) => tables.has(`${t.db}.${t.table}`));
    if (copies.length > 0) {
      process.stderr.write(copyUnderWayMessage('sdl replay', copies) + '\n');
      return 1;
    }
    const result = await replayDeadLetters(client, db);
    process.stdout.write(JSON.stringify(result) + '\n');
    return result.failed === 0 ? 0 : 1;
  } finally {
    await target.close();
  }
}
