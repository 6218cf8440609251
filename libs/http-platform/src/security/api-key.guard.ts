import { createHash, timingSafeEqual } from 'node:crypto';
import { CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { MessagingSettings } from '@app/messaging/config';
import { MESSAGING_SETTINGS } from '@app/messaging/messaging.constants';

/** What the guard leaves on the request: a stable, non-secret identity of the caller's key. */
export interface AuthenticatedRequest {
  apiKeyId?: string;
  headers: Record<string, string | string[] | undefined>;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The key from `X-Api-Key` or `Authorization: Bearer <key>`. */
export function presentedApiKey(headers: AuthenticatedRequest['headers']): string | undefined {
  const header = headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0) return header;
  const authorization = headers.authorization;
  const bearer = typeof authorization === 'string' ? /^Bearer\s+(\S+)$/i.exec(authorization) : null;
  return bearer?.[1];
}

/**
 * Compares digests in constant time, so neither the key nor its length leaks through timing; every
 * configured key is compared, so the position of the matching key does not leak either.
 */
export function matchApiKey(presented: string, keys: readonly string[]): string | undefined {
  const presentedDigest = digest(presented);
  let match: string | undefined;
  for (const key of keys) {
    if (timingSafeEqual(presentedDigest, digest(key))) match = key;
  }
  return match === undefined ? undefined : digest(`api-key-id:${match}`).toString('hex').slice(0, 16);
}

/**
 * When API_KEYS is set, a route behind this guard answers 401 without one of them. The caller's key
 * identity (a hash, never the key) is kept on the request so Idempotency-Keys can be scoped to it.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(@Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings) {}

  canActivate(context: ExecutionContext): boolean {
    const keys = this.settings.security.apiKeys;
    if (keys.length === 0) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const presented = presentedApiKey(request.headers);
    const id = presented === undefined ? undefined : matchApiKey(presented, keys);
    if (id === undefined) throw new UnauthorizedException('a valid API key is required (X-Api-Key or Authorization: Bearer)');
    request.apiKeyId = id;
    return true;
  }
}
