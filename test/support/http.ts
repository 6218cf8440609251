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
