import type { SystemTarget } from './system-target';

export interface Answer {
  status: number;
  contentType: string;
  /** The parsed JSON body, or the text when it is not JSON (undefined when empty). */
  body: any;
  text: string;
  headers: Headers;
}

const REQUEST_TIMEOUT_MS = 15_000;

/**
 * HTTP as a client of the deployed system: the API key (when the run has one) on every request unless
 * `withKey` is false. A connection failure throws, naming the URL: the suite needs a running system.
 */
export async function call(
  target: SystemTarget,
  method: 'GET' | 'POST',
  url: string,
  options: { body?: string; headers?: Record<string, string>; withKey?: boolean } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (target.apiKey !== undefined && options.withKey !== false) headers['x-api-key'] = target.apiKey;
  let response: Response;
  try {
    response = await fetch(url, { method, headers, body: options.body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new Error(`${method} ${url} failed (${reason}): is the system running there? (PRODUCER_URL / CONSUMER_URL)`);
  }
  const text = await response.text();
  let body: unknown = text.length > 0 ? text : undefined;
  try {
    if (text.length > 0) body = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body, text, headers: response.headers };
}

/** POST /messages with a JSON body (or `raw` as is) and the given headers. */
export function postMessage(
  target: SystemTarget,
  message: unknown,
  options: { headers?: Record<string, string>; raw?: string; withKey?: boolean } = {},
): Promise<Answer> {
  return call(target, 'POST', `${target.producerUrl}/messages`, {
    body: options.raw ?? JSON.stringify(message),
    headers: { 'content-type': 'application/json', ...options.headers },
    withKey: options.withKey,
  });
}

/** POSTs one message and insists on its 202; returns the id. */
export async function sendAccepted(target: SystemTarget, type: string, payload: Record<string, unknown> = {}): Promise<string> {
  const answer = await postMessage(target, { type, payload });
  if (answer.status !== 202 || typeof answer.body?.id !== 'string') {
    throw new Error(`POST /messages (${type}) answered ${answer.status} ${answer.text.slice(0, 300)}`);
  }
  return answer.body.id;
}

/** The value of one Prometheus sample (e.g. `messaging_consumed_total{result="processed"}`); 0 when absent. */
export function metricValue(metricsText: string, sample: string): number {
  const line = metricsText.split('\n').find((candidate) => candidate.startsWith(`${sample} `));
  return line === undefined
    ? 0
    : Number(
        line
          .slice(sample.length + 1)
          .trim()
          .split(/\s+/)[0],
      );
}
