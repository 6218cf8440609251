import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The security headers helmet sets for these options, worked out once. With the Content Security
 * Policy off (the docs page needs its own), none of helmet's headers depends on the request, so they
 * are computed at start and set with one hook, instead of running helmet's middleware chain (or, as
 * @fastify/helmet does, building it anew) on every request.
 */
export function securityHeaders(options: HelmetOptions = { contentSecurityPolicy: false }): Record<string, string> {
  const headers: Record<string, string> = {};
  const collector = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  // helmet throws on bad options (since 8.1) and sets every header synchronously.
  helmet(options)({} as IncomingMessage, collector as unknown as ServerResponse, () => undefined);
  return headers;
}
