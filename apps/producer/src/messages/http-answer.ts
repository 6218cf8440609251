import { STATUS_CODES, type ServerResponse } from 'node:http';
import { securityHeaders } from '@app/http-platform';

/**
 * The headers of every answer of the send route, as one flat name/value list made at start: helmet's
 * security headers (the same the app's hook sets on every other route, see startHttpApp) and the JSON
 * content type. Written with `writeHead(status, list)`, Node's cheapest way to send headers.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = securityHeaders({ contentSecurityPolicy: false });

const BASE_HEADERS: readonly string[] = [...Object.entries(SECURITY_HEADERS).flat(), 'content-type', 'application/json; charset=utf-8'];

/**
 * Writes a JSON answer on the raw response: the send route answers without fastify's reply (it is
 * hijacked), which spends most of its work on what this route does not use (serializers, onSend hooks,
 * a header map). `extraHeaders` is a flat name/value list (X-Correlation-Id, Retry-After, rate limits).
 */
export function writeJson(response: ServerResponse, status: number, json: string, extraHeaders: readonly string[] = []): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, [...BASE_HEADERS, 'content-length', String(Buffer.byteLength(json)), ...extraHeaders]);
  response.end(json);
}

/** An error answer shaped as Nest's own: `{"message": …, "error": "Bad Request", "statusCode": 400}`. */
export function writeError(response: ServerResponse, status: number, message: string, extraHeaders: readonly string[] = []): void {
  writeJson(response, status, JSON.stringify({ message, error: STATUS_CODES[status], statusCode: status }), extraHeaders);
}
