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

  async close(): Promise<void> {
    await this.writer?.close().catch(() => undefined);
  }
}
