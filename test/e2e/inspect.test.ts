import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { streamFromHere } from '../support/binlog.js';
import { sleep } from '../support/fault-run.js';
import { freePort } from '../support/ports.js';
import { SdlProcess, waitForCatchUp } from '../support/sdl-process.js';
import { startStack, type Stack } from '../support/stack.js';

interface Received {
  type: string;
  sessionId?: string;
  snapshot?: { value?: unknown };
  event?: { type?: string };
}

/** `sdl run --inspect=ws://…` as the XState inspector (or anything speaking its protocol) sees it. */
describe('sdl run --inspect', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('streams the live actor system over a local WebSocket, without passwords or row data', async () => {
    const port = await freePort();
    const server = new WebSocketServer({ host: '127.0.0.1', port });
    const raw: string[] = [];
    server.on('connection', (socket) => socket.on('message', (data: Buffer) => raw.push(data.toString('utf8'))));
    const conn = await stack.mariadb.connect();
    try {
      await conn.query("CREATE USER 'watched'@'127.0.0.1' IDENTIFIED BY 'pw-s3cret-9'; GRANT ALL ON *.* TO 'watched'@'127.0.0.1'");
      await conn.query("CREATE DATABASE insp; CREATE TABLE insp.t (id INT PRIMARY KEY, secret_note VARCHAR(40))");
      // Rows must arrive as binlog transactions (TXN events), not as snapshot copies.
      await streamFromHere(stack, 'insp');
      const sdl = new SdlProcess(stack.scratch, stack, {
        pipeline: 'insp',
        include: 'insp',
        args: [`--inspect=ws://127.0.0.1:${port}`],
        env: { SDL_MYSQL_URL: `mysql://watched:pw-s3cret-9@127.0.0.1:${stack.mariadb.port}` },
      });
      sdl.start();
      for (let i = 0; i < 20; i++) await conn.query('INSERT INTO insp.t VALUES (?, ?)', [i, `row-payload-${i}`]);
      await waitForCatchUp(stack, 'insp', 120_000, sdl);
      await sleep(500);
      assert.equal(await sdl.stop(), 0, sdl.logs().slice(-2000));
      const messages = raw.map((m) => JSON.parse(m) as Received);
      const types = new Set(messages.map((m) => m.type));
      assert.ok(types.has('@xstate.actor') && types.has('@xstate.snapshot') && types.has('@xstate.event'), `inspection event types: ${[...types].join(', ')}`);
      const states = messages.filter((m) => m.type === '@xstate.snapshot').map((m) => JSON.stringify(m.snapshot?.value) ?? '');
      assert.ok(states.some((v) => v.includes('streaming')), 'the reader was seen streaming');
      assert.ok(states.some((v) => v.includes('healthy')), 'the supervisor was seen running healthy');
      assert.ok(messages.some((m) => m.type === '@xstate.event' && m.event?.type === 'TXN'), 'transactions were seen as events');
      const all = raw.join('\n');
      assert.ok(!all.includes('pw-s3cret-9'), `the MySQL password reached the inspector: ${raw.filter((m) => m.includes('pw-s3cret-9')).slice(0, 2).map((m) => m.slice(0, 600)).join('\n')}`);
      assert.ok(!all.includes('row-payload-'), 'row data reached the inspector');
    } finally {
      server.close();
      await conn.end();
    }
  });
});
