import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a test server, to make the network faults a real
 * deployment sees: `freeze()` stops forwarding on the open connections without closing them (a
 * peer gone without a FIN), `blackhole` makes new connections hang the same way.
 */
export class TcpProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  /** New connections are accepted and then never forwarded. */
  blackhole = false;
  /** Every byte forwarded either way while true, in `traffic` (to show what a network observer sees). */
  recording = false;
  readonly traffic: Buffer[] = [];

  private constructor(private readonly server: Server, readonly port: number) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const made: { proxy?: TcpProxy } = {};
    const server = createServer((client) => made.proxy?.accept(client, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no port');
    made.proxy = new TcpProxy(server, addr.port);
    return made.proxy;
  }

  private accept(client: Socket, targetPort: number): void {
    client.on('error', () => undefined);
    if (this.blackhole) {
      // Read and drop: the client sees an open socket that never answers.
      client.on('data', () => undefined);
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    const pair = { client, upstream, frozen: false };
    this.pairs.add(pair);
    client.on('data', (d) => {
      if (this.recording) this.traffic.push(d);
      if (!pair.frozen) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (this.recording) this.traffic.push(d);
      if (!pair.frozen) client.write(d);
    });
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', () => {
      if (!pair.frozen) drop();
    });
  }

  /** Whether these bytes crossed the proxy (either way) while recording. */
  saw(bytes: string | Buffer): boolean {
    return Buffer.concat(this.traffic).includes(bytes);
  }

  /** Every open connection goes silent both ways; nothing is closed. Returns how many. */
  freeze(): number {
    for (const p of this.pairs) p.frozen = true;
    return this.pairs.size;
  }

  /** Every open connection is reset at once (the peer sees ECONNRESET). */
  cut(): void {
    for (const p of this.pairs) {
      p.client.resetAndDestroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
