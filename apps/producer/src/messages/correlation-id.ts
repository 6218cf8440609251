import { randomUUID } from 'node:crypto';

const CORRELATION_ID = /^[\x21-\x7e]{1,128}$/;
const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;

/** The request's correlation id: X-Correlation-Id, else the W3C traceparent's trace id, else a new one. */
export function correlationIdOf(headers: Record<string, string | string[] | undefined>): string {
  const given = headers['x-correlation-id'];
  if (typeof given === 'string' && CORRELATION_ID.test(given)) return given;
  const traceparent = headers.traceparent;
  const trace = typeof traceparent === 'string' ? TRACEPARENT.exec(traceparent.trim()) : null;
  return trace ? trace[1] : randomUUID();
}
