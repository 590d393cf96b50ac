import { MongoClient } from 'mongodb';
import type { Config } from '../config/config.js';
import { COLLECTIONS } from '../mongo/layout.js';
import { readCheckpoint } from '../mongo/offsets.js';
import { readSnapshotProgress } from '../mongo/snapshot-progress.js';

/** `sdl status`: where the pipeline is, what is still staged, how many dead letters wait. */
export async function status(config: Config): Promise<number> {
  const client = new MongoClient(config.mongo.url, { serverSelectionTimeoutMS: 10_000 });
  try {
    const db = client.db(config.mongo.database);
    const cp = await readCheckpoint(db, config.pipeline);
    const pending = await db.collection(COLLECTIONS.staging).countDocuments({ status: 'pending', part: 0 });
    const deadLetters = await db.collection(COLLECTIONS.deadLetters).countDocuments({ replayed: false });
    const lease = await db.collection(COLLECTIONS.leases).findOne({ _id: config.pipeline as never });
    // An initial snapshot in progress (or interrupted): tables done, the current one and its last key.
    const snapshot = await readSnapshotProgress(db, config.pipeline);
    process.stdout.write(JSON.stringify({ pipeline: config.pipeline, checkpoint: cp, snapshot, pendingBatches: pending, deadLetters, lease }, null, 2) + '\n');
    return 0;
  } finally {
    await client.close();
  }
}
