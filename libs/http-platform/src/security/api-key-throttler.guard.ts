import { Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { AuthenticatedRequest } from './api-key.guard';

/**
 * Whom a rate limit counts: the caller's API key when it presented one (its identity from ApiKeyGuard,
 * a hash; the key itself is never used, stored or logged), else undefined, so the caller falls back
 * to the client address.
 */
export function apiKeyTracker(request: Pick<AuthenticatedRequest, 'apiKeyId'>): string | undefined {
  return request.apiKeyId === undefined ? undefined : `api-key:${request.apiKeyId}`;
}

/**
 * @nestjs/throttler's guard, counting per API key when API_KEYS is set, so clients behind one proxy or
 * NAT address each get their own budget; per client address (the throttler's own tracker) without
 * keys. Put it after ApiKeyGuard, which identifies the key: `@UseGuards(ApiKeyGuard, ApiKeyThrottlerGuard)`.
 */
@Injectable()
export class ApiKeyThrottlerGuard extends ThrottlerGuard {
  protected override async getTracker(request: Record<string, unknown>): Promise<string> {
    return apiKeyTracker(request) ?? `ip:${await super.getTracker(request)}`;
  }
}
