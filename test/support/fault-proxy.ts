import { connect, createServer, type Server, type Socket } from 'node:net';
import { listenOnLoopback } from './free-port';

interface Pair {
  client: Socket;
  upstream: Socket;
}

const ignore = () => undefined;

/**
 * A TCP proxy of our own in front of a service (RabbitMQ, Redis), so a test can break the network
 * between an app and the service without touching the service: `cut()` drops every live connection,
 * `refuse()` drops every new one as well until `accept()`. It never throws on socket errors.
 */
export class FaultProxy {
  private readonly pairs = new Set<Pair>();
  private refusing = false;
  private stalled = false;
  private stopped = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly targetPort: number,
    readonly targetHost: string,
  ) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
    const server = createServer({ pauseOnConnect: false, noDelay: true });
    // No connection can be handled before the await resumes (microtasks run before the next I/O event).
    const proxy = new FaultProxy(server, await listenOnLoopback(server), targetPort, targetHost);
    server.on('connection', (client: Socket) => proxy.onConnection(client));
    return proxy;
  }

  /** Live proxied connections. */
  get connections(): number {
    return this.pairs.size;
  }

  /** True while new connections are refused. */
  get isRefusing(): boolean {
    return this.refusing;
  }

  /** Destroys every live connection, both sides. New connections are still accepted. */
  cut(): void {
    for (const pair of [...this.pairs]) this.drop(pair);
  }

  /** Cuts every live connection, and from now on accepts new ones only to destroy them at once. */
  refuse(): void {
    this.refusing = true;
    this.cut();
  }

  /** Back to normal: new connections are proxied. */
  accept(): void {
    this.refusing = false;
  }

  /**
   * A partition without resets: every connection, live or new, stays open but no byte moves either way
   * until `resume()`. Both ends see silence, as when a link drops packets: a publish waits for a confirm
   * that does not come, and the bytes held back arrive late once the link heals.
   */
  stall(): void {
    this.stalled = true;
    for (const pair of this.pairs) this.unpipe(pair);
  }

  /** Ends a stall: the bytes held back flow on. */
  resume(): void {
    this.stalled = false;
    for (const pair of this.pairs) this.pipe(pair);
  }

  /** True while no byte moves. */
  get isStalled(): boolean {
    return this.stalled;
  }

  /** Cuts everything and closes the listener. */
  stop(): Promise<void> {
    this.stopped = true;
    this.refusing = true;
    this.cut();
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(client: Socket): void {
    client.on('error', ignore);
    if (this.refusing || this.stopped) {
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    const upstream = connect({ port: this.targetPort, host: this.targetHost });
    upstream.on('error', ignore);
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    const close = () => this.drop(pair);
    client.on('close', close);
    upstream.on('close', close);
    if (!this.stalled) this.pipe(pair);
  }

  private pipe(pair: Pair): void {
    pair.client.pipe(pair.upstream);
    pair.upstream.pipe(pair.client);
  }

  private unpipe(pair: Pair): void {
    pair.client.unpipe(pair.upstream);
    pair.upstream.unpipe(pair.client);
    pair.client.pause();
    pair.upstream.pause();
  }

  private drop(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    pair.client.unpipe();
    pair.upstream.unpipe();
    pair.client.destroy();
    pair.upstream.destroy();
  }
}
