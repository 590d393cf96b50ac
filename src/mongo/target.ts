import { MongoClient, type Db, type MongoClientOptions } from 'mongodb';
import { SdlError } from '../errors.js';
import { probeCapabilities, type Capabilities } from './capabilities.js';
import { decideWriteConcern, describeConcern, driverConcern, requestedByUrl, type WriteConcernDecision } from './write-concern.js';

export interface TargetSettings {
  url: string;
  database: string;
  allowWeakWriteConcern: boolean;
}

/**
 * The MongoDB client every sdl write goes through. The write concern is decided once, the first
 * time the server answers (see write-concern.ts), and the client is then built with it, so
 * staging, the event log, mirrors, the checkpoint, dead letters, leases, snapshot progress and
 * DDL all inherit it from one place (the driver gives a Db and its collections the client's
 * concern, and a transaction's commit too). No write passes its own.
 */
export class MongoTarget {
  private writer: MongoClient | undefined;
  private decided: WriteConcernDecision | undefined;
  /** Consecutive heal() checks where a new client reached the server and the writer did not. */
  private suspect = 0;
  private closed = false;

  constructor(
    private readonly settings: TargetSettings,
    private readonly options: MongoClientOptions = {},
  ) {}

  /**
   * Connects; the first time, probes the server with a client of the URL's own options, decides
   * the write concern (a config SdlError when it is too weak without the setting) and builds the
   * writing client. Later calls (a retried prepare) probe again through the writing client and
   * stop the pipeline if the server now refuses the concern in use: never a silent downgrade.
   */
  async connect(): Promise<{ client: MongoClient; db: Db; caps: Capabilities; decision: WriteConcernDecision }> {
    if (this.writer === undefined || this.decided === undefined) {
      const probeClient = new MongoClient(this.settings.url, this.options);
      let caps: Capabilities;
      try {
        await probeClient.connect();
        caps = await probeCapabilities(probeClient, probeClient.db(this.settings.database), { writeConcern: requestedByUrl(this.settings.url) });
      } finally {
        await probeClient.close().catch(() => undefined);
      }
      const decision = decideWriteConcern(caps.writeConcern, this.settings.allowWeakWriteConcern);
      this.writer = new MongoClient(this.settings.url, { ...this.options, writeConcern: driverConcern(decision.concern) });
      this.decided = decision;
      await this.writer.connect();
      return { client: this.writer, db: this.writer.db(this.settings.database), caps, decision };
    }
    await this.writer.connect();
    const db = this.writer.db(this.settings.database);
    const caps = await probeCapabilities(this.writer, db, { writeConcern: this.decided.concern });
    if (caps.writeConcern.accepted === undefined) {
      throw new SdlError('WRITE_CONCERN_REFUSED', `MongoDB now refuses the write concern sdl started with, ${describeConcern(this.decided.concern)} (${caps.writeConcern.refused.map((r) => r.error).join('; ')}); sdl does not write with a weaker one`, 'permanent',
        'restore the MongoDB deployment (replica set members, journaling), or restart sdl to decide again (a weaker concern needs mongo.allowWeakWriteConcern)');
    }
    return { client: this.writer, db, caps, decision: this.decided };
  }

  /** The writing client; only after connect() has decided its write concern. */
  get client(): MongoClient {
    if (this.writer === undefined) throw new Error('not connected to MongoDB yet (the client is built once the write concern is decided)');
    return this.writer;
  }

  get db(): Db {
    return this.client.db(this.settings.database);
  }

  /** The decided concern, once connect() has run. */
  get decision(): WriteConcernDecision | undefined {
    return this.decided;
  }

  /**
   * Replaces the writing client when it no longer reaches a server that a new client reaches.
   * Measured against FerretDB stopped mid-write and started again (about one outage in three
   * under load): the driver's server monitor started a check and never finished it, so the
   * server stayed "Unknown" and every operation failed server selection with the error of the
   * outage's first second, for as long as sdl ran. Call it while writes fail with network
   * errors; it pings through the writing client and, when that fails, through a new one.
   * Two disagreements in a row (so not a server that just came back) swap the client; the old
   * one is closed a minute later, once its pending operations have timed out (transiently).
   * Returns what it found.
   */
  async heal(): Promise<'healthy' | 'down' | 'suspect' | 'replaced'> {
    const writer = this.writer;
    if (writer === undefined || this.decided === undefined || this.closed) return 'down';
    if (await pings(writer)) {
      this.suspect = 0;
      return 'healthy';
    }
    const fresh = new MongoClient(this.settings.url, { ...this.options, serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000 });
    const reachable = await pings(fresh);
    await fresh.close().catch(() => undefined);
    if (!reachable) {
      this.suspect = 0;
      return 'down';
    }
    if (++this.suspect < 2) return 'suspect';
    this.suspect = 0;
    const replacement = new MongoClient(this.settings.url, { ...this.options, writeConcern: driverConcern(this.decided.concern) });
    await replacement.connect();
    // Only a writer still in place is replaced (a stop may have closed it meanwhile).
    if (this.writer !== writer || this.closed) {
      await replacement.close().catch(() => undefined);
      return 'healthy';
    }
    this.writer = replacement;
    setTimeout(() => void writer.close().catch(() => undefined), 60_000).unref();
    return 'replaced';
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writer?.close().catch(() => undefined);
  }
}

/** Whether the server answers a ping through this client (within its server selection timeout). */
async function pings(client: MongoClient): Promise<boolean> {
  try {
    await client.db('admin').command({ ping: 1 });
    return true;
  } catch {
    return false;
  }
}
