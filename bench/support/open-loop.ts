import { Socket } from 'node:net';
import { INGEST_BODY } from './http-load';
import { sleep } from './stats';

/** One POST /messages of an open-loop run. */
export interface OpenLoopSend {
  /** When it was due by the schedule (Date.now() ms): latencies count from here, so a late send counts against the server. */
  dueAt: number;
  answeredAt: number;
  /** HTTP status; 0 when no answer came. */
  status: number;
  id?: string;
}

/** How often the sender wakes to send what has fallen due (a timer per request would be too coarse at thousands per second). */
const TICK_MS = 2;
const HEAD_END = '\r\n\r\n';
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;
const ID = /"id":"([^"]+)"/;

interface Due {
  dueAt: number;
  resolve: (send: OpenLoopSend) => void;
}

/**
 * One keep-alive connection that carries one request at a time, written as prepared bytes, its
 * answer read with just enough parsing for the status and the id. node:http's client spends several
 * times the CPU of this per request, and on a shared 2-core machine the load generator must not be
 * what limits the rate.
 */
class Connection {
  private readonly socket: Socket;
  private current?: Due;
  private buffer = '';
  closed = false;

  constructor(
    port: number,
    private readonly request: Buffer,
    private readonly free: (connection: Connection) => void,
  ) {
    this.socket = new Socket();
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
      this.finish(0, '');
      this.free(this);
    });
    this.socket.connect(port, '127.0.0.1');
  }

  send(due: Due): void {
    this.current = due;
    this.socket.write(this.request);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    this.buffer += chunk.toString('latin1');
    const headEnd = this.buffer.indexOf(HEAD_END);
    if (headEnd < 0) return;
    const head = this.buffer.slice(0, headEnd);
    const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
    const bodyStart = headEnd + HEAD_END.length;
    if (this.buffer.length < bodyStart + length) return;
    const body = this.buffer.slice(bodyStart, bodyStart + length);
    this.buffer = this.buffer.slice(bodyStart + length);
    this.finish(Number(head.slice(9, 12)), body);
  }

  private finish(status: number, body: string): void {
    const due = this.current;
    if (!due) return;
    this.current = undefined;
    due.resolve({ dueAt: due.dueAt, answeredAt: Date.now(), status, id: status === 202 ? ID.exec(body)?.[1] : undefined });
    if (!this.closed) this.free(this);
  }
}

/**
 * POST /messages at `ratePerSecond` for `seconds`, open loop: request i is due at start + i / rate,
 * whether or not earlier ones were answered (a slow server does not slow the offered load down, as it
 * would with a fixed set of connections each waiting for its answer). Requests go out on up to
 * `maxConnections` keep-alive connections; one due while all are busy waits for a free one, and that
 * wait counts in its latency.
 */
export async function sendOpenLoop(baseUrl: string, ratePerSecond: number, seconds: number, maxConnections = 256): Promise<OpenLoopSend[]> {
  const url = new URL(baseUrl);
  const request = Buffer.from(
    `POST /messages HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(INGEST_BODY)}\r\n\r\n${INGEST_BODY}`,
  );
  const idle: Connection[] = [];
  const all = new Set<Connection>();
  const queued: Due[] = [];
  const free = (connection: Connection) => {
    const next = queued.shift();
    // A connection the server closed hands what waits to a new one.
    if (connection.closed) {
      if (next) dispatch(next);
    } else if (next) connection.send(next);
    else idle.push(connection);
  };
  function dispatch(due: Due): void {
    let connection = idle.pop();
    while (connection?.closed) connection = idle.pop();
    if (!connection) {
      for (const known of all) if (known.closed) all.delete(known);
      if (all.size >= maxConnections) {
        queued.push(due);
        return;
      }
      connection = new Connection(Number(url.port), request, free);
      all.add(connection);
    }
    connection.send(due);
  }

  const total = Math.round(ratePerSecond * seconds);
  const sends: Promise<OpenLoopSend>[] = [];
  const started = Date.now();
  try {
    while (sends.length < total) {
      const now = Date.now();
      while (sends.length < total) {
        const dueAt = started + (sends.length * 1000) / ratePerSecond;
        if (dueAt > now) break;
        sends.push(new Promise<OpenLoopSend>((resolve) => dispatch({ dueAt, resolve })));
      }
      await sleep(TICK_MS);
    }
    return await Promise.all(sends);
  } finally {
    for (const connection of all) connection.destroy();
  }
}
