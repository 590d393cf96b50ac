import { Decimal128, type Db, type Document, type MongoClient } from 'mongodb';
import { driverConcern, probeWriteConcerns, requestedByClient, type Concern, type WriteConcernProbe } from './write-concern.js';

/** What the connected MongoDB-wire server can do, learned from its own answers. */
export interface Capabilities {
  /** Multi-document transactions (replica set or sharded cluster, wire version ≥ 7). */
  transactions: boolean;
  /** Stores and returns Decimal128 values as Decimal128. */
  decimal128: boolean;
  /** Stores arrays inside arrays. */
  nestedArrays: boolean;
  /** Stores embedded-document keys that contain '.' or start with '$' (JSON column values). */
  dottedKeys: boolean;
  /** `ferretdbVersion` from buildInfo when the server is FerretDB, for logs. */
  ferretdb: string | undefined;
  /** The MongoDB version the server reports (FerretDB reports the one it emulates). */
  version: string;
  /** Standalone, replica set (name, primary, members) or sharded, from `hello`. */
  topology: Topology;
  /** Which write concerns the server accepts (the policy is in write-concern.ts). */
  writeConcern: WriteConcernProbe;
}

/** The deployment sdl writes to, as `hello` (and `replSetGetStatus`, where allowed) describe it. */
export interface Topology {
  kind: 'standalone' | 'replicaSet' | 'sharded';
  setName?: string;
  /** The primary's host:port as the set reports it. */
  primary?: string;
  /** The member sdl is connected to. */
  me?: string;
  /** Data-bearing members (hosts and passives) from `hello`. */
  hosts?: string[];
  arbiters?: string[];
  /** Each member's state and health, when the user may run `replSetGetStatus` (clusterMonitor). */
  members?: { name: string; state: string; healthy: boolean }[];
}

export interface ProbeOptions {
  /** The write concern to try instead of the ladder (default: the one the client was built with). */
  writeConcern?: Concern | undefined;
}

const PROBE_COLLECTION = '_sdl_capability_probe';

/**
 * Asks the server what it supports. Topology comes from `hello`; the data-type answers come
 * from writing a probe document and reading it back, because servers that accept a type on
 * the wire may still refuse or rewrite it (a version number alone does not say).
 */
export async function probeCapabilities(client: MongoClient, db: Db, opts: ProbeOptions = {}): Promise<Capabilities> {
  const admin = client.db('admin');
  const hello = await admin.command({ hello: 1 });
  const build = await admin.command({ buildInfo: 1 });
  const probe = db.collection<Document>(PROBE_COLLECTION);
  try {
    const ferretdb = typeof build['ferretdbVersion'] === 'string' ? build['ferretdbVersion'] : undefined;
    return {
      transactions: topologySupportsTransactions(hello) && (await transactionsWork(client, db)),
      decimal128: await roundTrips(probe, 'decimal', Decimal128.fromString('1.10'), (v) => v instanceof Decimal128 && v.toString() === '1.10'),
      nestedArrays: await roundTrips(probe, 'nested', [[1, 2], [3]], (v) => JSON.stringify(v) === '[[1,2],[3]]'),
      dottedKeys: await roundTrips(probe, 'dotted', { 'a.b': 1, $c: 2 }, (v) => JSON.stringify(v) === '{"a.b":1,"$c":2}'),
      ferretdb,
      version: String(build['version']),
      topology: await topologyOf(client, hello),
      writeConcern: await probeWriteConcerns(async (c) => {
        await probe.replaceOne({ _id: 'write-concern' } as Document, { at: new Date() }, { upsert: true, writeConcern: driverConcern(c) });
      }, 'writeConcern' in opts ? opts.writeConcern : requestedByClient(client)),
    };
  } finally {
    await probe.drop().catch(() => undefined);
  }
}

function topologySupportsTransactions(hello: Document): boolean {
  const maxWire = typeof hello['maxWireVersion'] === 'number' ? hello['maxWireVersion'] : 0;
  const replicaSet = typeof hello['setName'] === 'string';
  const mongos = hello['msg'] === 'isdbgrid';
  return (replicaSet && maxWire >= 7) || (mongos && maxWire >= 8);
}

async function transactionsWork(client: MongoClient, db: Db): Promise<boolean> {
  const session = client.startSession();
  try {
    await session.withTransaction(async () => {
      await db.collection(PROBE_COLLECTION).insertOne({ _id: 'txn' } as Document, { session });
    });
    return true;
  } catch {
    return false;
  } finally {
    await session.endSession();
  }
}

async function roundTrips(
  probe: ReturnType<Db['collection']>,
  id: string,
  value: unknown,
  same: (stored: unknown) => boolean,
): Promise<boolean> {
  try {
    await probe.replaceOne({ _id: id } as Document, { v: value }, { upsert: true });
    const back = await probe.findOne({ _id: id } as Document);
    return back !== null && same(back['v']);
  } catch {
    return false;
  }
}

async function topologyOf(client: MongoClient, hello: Document): Promise<Topology> {
  if (hello['msg'] === 'isdbgrid') return { kind: 'sharded' };
  if (typeof hello['setName'] !== 'string') return { kind: 'standalone' };
  const list = (k: string): string[] => (Array.isArray(hello[k]) ? (hello[k] as unknown[]).map(String) : []);
  const t: Topology = {
    kind: 'replicaSet',
    setName: hello['setName'],
    hosts: [...list('hosts'), ...list('passives')],
    arbiters: list('arbiters'),
  };
  if (typeof hello['primary'] === 'string') t.primary = hello['primary'];
  if (typeof hello['me'] === 'string') t.me = hello['me'];
  // Needs clusterMonitor; without it hello's view is all there is.
  const status = await client.db('admin').command({ replSetGetStatus: 1 }).catch(() => undefined);
  if (status !== undefined && Array.isArray(status['members'])) {
    t.members = (status['members'] as Document[]).map((m) => ({ name: String(m['name']), state: String(m['stateStr']), healthy: m['health'] === 1 }));
  }
  return t;
}
