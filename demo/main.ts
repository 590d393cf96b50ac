/**
 * `make demo`: a sandbox MariaDB (binlog on) and FerretDB under .sandbox/, a sample shop
 * schema with a steady mix of inserts, updates and deletes, and `sdl run` replicating it.
 * Prints what was replicated and how far behind sdl is, then verifies both sides.
 */
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { MongoClient } from 'mongodb';
import { SdlProcess, waitForCatchUp } from '../test/support/sdl-process.js';
import { startStack } from '../test/support/stack.js';
import { assertMirrorsEqual } from '../test/support/verify.js';
import { WORKLOAD_SCHEMA, Workload } from '../test/support/workload.js';

const SECONDS = Number(process.env['DEMO_SECONDS'] ?? 20);
const sandbox = resolve('.sandbox');

function say(msg: string): void {
  process.stdout.write(`${msg}\n`);
}

async function main(): Promise<void> {
  rmSync(sandbox, { recursive: true, force: true });
  say(`starting MariaDB and the MongoDB-wire server under ${sandbox} …`);
  const stack = await startStack({ base: sandbox });
  say(`  MariaDB ${stack.mariadb.url}   MongoDB ${stack.mongo.url}`);
  const conn = await stack.mariadb.connect();
  const client = new MongoClient(stack.mongo.url);
  const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'demo', include: 'shop' });
  try {
    await conn.query(WORKLOAD_SCHEMA);
    const workload = new Workload(conn, Date.now() % 1000);
    await workload.run(50);
    say(`sdl run (log: ${sdl.logFile})`);
    sdl.start();
    const until = Date.now() + SECONDS * 1000;
    let next = Date.now();
    while (Date.now() < until) {
      await workload.step();
      if (Date.now() >= next) {
        const s = workload.stats;
        say(`  source: ${s.transactions} txns (${s.inserts} inserts, ${s.updates} updates, ${s.deletes} deletes)   sdl lag: ${await lagSeconds(client)}`);
        next += 2000;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitForCatchUp(stack, 'demo', 60_000, sdl);
    // Rows the initial snapshot copied are logged as reads (`r`), not as changes.
    const events = await client.db('sdl').collection('row_changes').countDocuments({ db: 'shop', op: { $ne: 'r' } });
    const reads = await client.db('sdl').collection('row_changes').countDocuments({ db: 'shop', op: 'r' });
    const customers = await client.db('shop').collection('customers').countDocuments();
    const orders = await client.db('shop').collection('orders').countDocuments();
    say(`caught up: ${events} row changes and ${reads} snapshot reads in sdl.row_changes; mirrors shop.customers=${customers} shop.orders=${orders}`);
    await assertMirrorsEqual(stack, ['shop']);
    say('verify: every mirrored row equals MySQL ✓');
  } finally {
    const code = await sdl.stop();
    say(`sdl stopped with exit code ${code ?? 'null'}`);
    await conn.end();
    await client.close();
    await stack.stop();
  }
}

async function lagSeconds(client: MongoClient): Promise<string> {
  const cp = await client.db('sdl').collection<{ _id: string; sourceTs: number | null }>('offsets').findOne({ _id: 'demo' }).catch(() => null);
  if (cp?.sourceTs === undefined || cp.sourceTs === null) return 'n/a';
  return `${((Date.now() - cp.sourceTs) / 1000).toFixed(1)} s`;
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
