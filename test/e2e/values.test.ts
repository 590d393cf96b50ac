import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Binary, MongoClient } from 'mongodb';
import { streamWholeBinlog } from '../support/binlog.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';
import { assertMirrorsEqual } from '../support/verify.js';

/** Values zongji hands over differently from what the server returns, through `sdl run`. */
describe('sdl run: values exactly as the server returns them', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('YEAR 0000, invalid ENUM, latin1 bytes cp1252 leaves undefined, UTF-8 bytes in latin1, utf16, a nopad collation', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE vals;
      CREATE TABLE vals.t (
        id INT PRIMARY KEY, y YEAR, e ENUM('a','b'), el ENUM('x\u0081','y') CHARACTER SET latin1,
        sl SET('p\u008d','q') CHARACTER SET latin1, l VARCHAR(20) CHARACTER SET latin1, lt TEXT CHARACTER SET latin1,
        u16 VARCHAR(20) CHARACTER SET utf16, nopad VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_swedish_nopad_ci
      ) CHARSET utf8mb4;
      SET SESSION sql_mode = '';
      INSERT INTO vals.t VALUES
        (1, 0, 'zz', 'x\u0081', 'p\u008d,q', UNHEX('818D8F909D'), UNHEX('C3A9E282AC'), 'ü😀', UNHEX('8190')),
        (2, 1901, 'b', 'y', '', 'café', 'x', '', 'é'),
        (3, 2155, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
      UPDATE vals.t SET y = 0, e = 'bad', l = UNHEX('9D') WHERE id = 2;`);
    await conn.end();

    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'vals');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'vals', include: 'vals' });
    sdl.start();
    try {
      await waitForCatchUp(stack, 'vals', 60_000, sdl);
      await assertMirrorsEqual(stack, ['vals']);
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    }

    const client = new MongoClient(stack.mongo.url);
    try {
      const docs = client.db('vals').collection<{ _id: number } & Record<string, unknown>>('t');
      const one = await docs.findOne({ _id: 1 });
      assert.ok(one);
      assert.equal(one['y'], 0);
      assert.equal(one['e'], '');
      assert.equal(one['el'], 'x\u0081');
      assert.deepEqual(one['sl'], ['p\u008d', 'q']);
      assert.equal(one['l'], '\u0081\u008d\u008f\u0090\u009d');
      // UTF-8 bytes in a latin1 column are latin1 characters to the server, so to the mirror.
      assert.equal(one['lt'], 'Ã©â‚¬');
      assert.equal(one['u16'], 'ü😀');
      assert.equal(one['nopad'], '\u0081\u0090');
      const two = await docs.findOne({ _id: 2 });
      assert.equal(two?.['y'], 0);
      assert.equal(two?.['e'], '');
      assert.equal(two?.['l'], '\u009d');
    } finally {
      await client.close();
    }
  });

  it('MariaDB COMPRESSED columns (binlog types 140/141): text by charset, binary without', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE comp;
      CREATE TABLE comp.t (
        id INT PRIMARY KEY, vc VARCHAR(200) CHARACTER SET latin1 COMPRESSED, vc8 VARCHAR(200) CHARACTER SET utf8mb4 COMPRESSED,
        tc TEXT CHARACTER SET utf8mb4 COMPRESSED, vb VARBINARY(200) COMPRESSED, bc BLOB COMPRESSED
      );
      INSERT INTO comp.t VALUES (1, UNHEX('81E98D'), 'héllo ✓', REPEAT('wörld ', 40), X'00FF10', REPEAT(X'DEADBEEF', 50)),
        (2, '', '', '', X'', X''), (3, NULL, NULL, NULL, NULL, NULL);
      UPDATE comp.t SET tc = REPEAT('ü', 300) WHERE id = 2;`);
    await conn.end();

    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'comp');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'comp', include: 'comp', name: 'sdl-comp' });
    sdl.start();
    try {
      await waitForCatchUp(stack, 'comp', 60_000, sdl);
      await assertMirrorsEqual(stack, ['comp']);
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    }
    const client = new MongoClient(stack.mongo.url);
    try {
      const one = await client.db('comp').collection<{ _id: number } & Record<string, unknown>>('t').findOne({ _id: 1 });
      assert.ok(one);
      assert.equal(one['vc'], '\u0081é\u008d');
      assert.equal(one['vc8'], 'héllo ✓');
      assert.equal(one['tc'], 'wörld '.repeat(40));
      assert.ok(one['vb'] instanceof Binary && one['bc'] instanceof Binary);
      assert.deepEqual(Buffer.from(one['vb'].buffer), Buffer.from('00FF10', 'hex'));
      assert.deepEqual(Buffer.from(one['bc'].buffer), Buffer.from('DEADBEEF'.repeat(50), 'hex'));
    } finally {
      await client.close();
    }
  });

  it('MariaDB UUID, INET4, INET6: the stored bytes, as the binlog carries them, agreed by the verifier', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE addr;
      CREATE TABLE addr.t (id INT PRIMARY KEY, u UUID, i4 INET4, i6 INET6);
      INSERT INTO addr.t VALUES
        (1, '123e4567-e89b-12d3-a456-426614174000', '0.0.0.0', '::ffff:1.2.3.4'),
        (2, 'f47ac10b-58cc-4372-a567-0e02b2c3d479', '255.255.255.255', '2001:db8::1'),
        (3, '00000000-0000-0000-0000-000000000000', '10.0.0.0', '::'),
        (4, '01234567-89ab-7def-8123-456789abcdef', '0.0.0.1', '::1.2.3.4'),
        (5, 'ffffffff-ffff-ffff-ffff-ffffffffffff', '1.0.0.0', '1:2:3:4:5:6:7:8'),
        (6, NULL, NULL, 'fe80::1:2:3:4');`);
    const [hex] = await conn.query('SELECT id, HEX(CAST(u AS BINARY)) AS u, HEX(CAST(i4 AS BINARY)) AS i4, HEX(CAST(i6 AS BINARY)) AS i6 FROM addr.t ORDER BY id');
    await conn.end();

    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'addr');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'addr', include: 'addr', name: 'sdl-addr' });
    sdl.start();
    try {
      await waitForCatchUp(stack, 'addr', 60_000, sdl);
      await assertMirrorsEqual(stack, ['addr']);
    } finally {
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-3000));
    }
    const client = new MongoClient(stack.mongo.url);
    try {
      const docs = await client.db('addr').collection<{ _id: number } & Record<string, unknown>>('t').find().sort({ _id: 1 }).toArray();
      const got = docs.map((d) => ({ id: d._id, ...Object.fromEntries(['u', 'i4', 'i6'].map((c) => {
        const v = d[c];
        return [c, v instanceof Binary ? Buffer.from(v.buffer).toString('hex').toUpperCase() : v];
      })) }));
      assert.deepEqual(got, hex);
    } finally {
      await client.close();
    }
  });

  it('a column in a charset sdl cannot decode exactly stops the pipeline with UNSUPPORTED_COLUMN', async () => {
    const conn = await stack.mariadb.connect();
    await conn.query(`CREATE DATABASE refused;
      CREATE TABLE refused.t (id INT PRIMARY KEY, v VARCHAR(20) CHARACTER SET big5);
      INSERT INTO refused.t VALUES (1, CONVERT('中文' USING big5));`);
    await conn.end();
    // This test is about the binlog: stream it, not an initial snapshot.
    await streamWholeBinlog(stack, 'refused');
    const sdl = new SdlProcess(stack.scratch, stack, { pipeline: 'refused', include: 'refused', name: 'sdl-refused' });
    sdl.start();
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([sdl.exited(), new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 60_000)))]);
    clearTimeout(timer);
    if (code === 'timeout') await sdl.stop();
    assert.equal(code, 1, `sdl should exit 1:\n${sdl.logs().slice(-3000)}`);
    assert.match(sdl.logs(), /UNSUPPORTED_COLUMN/);
    assert.match(sdl.logs(), /refused\.t\.v: character set big5 has no exact decoder in sdl \(binlog binlog\.\d+:\d+, GTID 0-1-\d+\)/);
  });
});
