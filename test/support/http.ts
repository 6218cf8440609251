import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';

export interface HttpResult {
  status: number;
  body: any;
  headers: Headers;
}

const TIMEOUT_MS = 10_000;

/**
 * POST /messages. `body` is sent as JSON with Content-Type application/json unless `rawBody` is given
 * (then it is sent as is; set the Content-Type in `headers`). Never throws on a connection failure or
 * timeout: the result is then status 0 with body `{ error }`.
 */
export async function postMessage(
  baseUrl: string,
  body: unknown,
  headers: Record<string, string> = {},
  rawBody?: string,
): Promise<HttpResult> {
  const hasContentType = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
  return request(`${baseUrl.replace(/\/$/, '')}/messages`, {
    method: 'POST',
    headers: { ...(hasContentType ? {} : { 'content-type': 'application/json' }), ...headers },
    body: rawBody ?? JSON.stringify(body),
  });
}

/** GET a URL; same error handling as postMessage. */
export async function getUrl(url: string): Promise<HttpResult> {
  return request(url, { method: 'GET' });
}

async function request(url: string, init: RequestInit): Promise<HttpResult> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
    const text = await response.text();
    let parsed: unknown = text;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    } else {
      parsed = undefined;
    }
    return { status: response.status, body: parsed, headers: response.headers };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const message = cause?.code ?? cause?.message ?? (error as Error).message;
    return { status: 0, body: { error: message }, headers: new Headers() };
  }
}

/** The value of one Prometheus sample in a /metrics text, e.g. `messaging_consumed_total{result="processed"}`; 0 when absent. */
export function metricValue(metricsText: string, sample: string): number {
  for (const line of metricsText.split('\n')) {
    if (line.startsWith(`${sample} `))
      return Number(
        line
          .slice(sample.length + 1)
          .trim()
          .split(/\s+/)[0],
      );
  }
  return 0;
}

export interface HeldPost {
  /** Resolves once the app answered `100 Continue`: it has the request in hand and waits for its body. */
  continued: Promise<void>;
  /** Sends the body; the answer follows in `response`. */
  send: () => void;
  /**
   * The answer, or status 0 with `{ error }` (e.g. ECONNRESET) when the connection was dropped
   * without one. Never rejects.
   */
  response: Promise<HttpResult>;
}

/**
 * POST /messages with `Expect: 100-continue`, on a connection of its own, holding the body back until
 * `send()`: a request the app is already handling, kept in flight for as long as a test needs (e.g.
 * across a SIGTERM).
 */
export function postHeld(baseUrl: string, body: unknown, headers: Record<string, string> = {}): HeldPost {
  const payload = Buffer.from(JSON.stringify(body));
  const request = httpRequest(`${baseUrl.replace(/\/$/, '')}/messages`, {
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': String(payload.length), expect: '100-continue', ...headers },
  });
  const continued = new Promise<void>((resolve, reject) => {
    request.once('continue', () => resolve());
    request.once('error', reject);
    request.once('response', () => reject(new Error('answered before 100 Continue')));
  });
  continued.catch(() => undefined);
  const response = new Promise<HttpResult>((resolve) => {
    request.once('error', (error: NodeJS.ErrnoException) =>
      resolve({ status: 0, body: { error: error.code ?? error.message }, headers: new Headers() }),
    );
    request.once('response', (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.once('error', (error: NodeJS.ErrnoException) =>
        resolve({ status: 0, body: { error: error.code ?? error.message }, headers: new Headers() }),
      );
      answer.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text.length > 0 ? JSON.parse(text) : undefined;
        } catch {
          // not JSON: kept as text
        }
        const answerHeaders = new Headers();
        for (const [name, value] of Object.entries(answer.headers)) if (typeof value === 'string') answerHeaders.set(name, value);
        resolve({ status: answer.statusCode ?? 0, body: parsed, headers: answerHeaders });
      });
    });
  });
  request.flushHeaders();
  return { continued, send: () => request.end(payload), response };
}

/** Whether a TCP connection to 127.0.0.1:<port> is accepted now ('accepted') or refused ('refused'). */
export function tcpProbe(port: number): Promise<'accepted' | 'refused'> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNREFUSED' ? resolve('refused') : reject(error)));
  });
}
