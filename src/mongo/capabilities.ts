import { Decimal128, type Db, type Document, type MongoClient } from 'mongodb';

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
}

const PROBE_COLLECTION = '_sdl_capability_probe';

/**
 * Asks the server what it supports. Topology comes from `hello`; the data-type answers come
 * from writing a probe document and reading it back, because servers that accept a type on
 * the wire may still refuse or rewrite it (a version number alone does not say).
 */
export async function probeCapabilities(client: MongoClient, db: Db): Promise<Capabilities> {
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
