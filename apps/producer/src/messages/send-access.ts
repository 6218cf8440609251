import { apiKeyTracker, matchApiKey, presentedApiKey } from '@app/http-platform';
import type { MessagingSettings } from '@app/messaging/config';
import { MESSAGING_SETTINGS } from '@app/messaging/messaging.constants';
import { Inject, Injectable } from '@nestjs/common';
import { ThrottlerStorage } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';

/** One minute: the window RATE_LIMIT_PER_MINUTE counts in. */
export const RATE_WINDOW_MS = 60_000;
/** The throttler's name in its storage (and the reason its headers carry no suffix). */
const THROTTLER_NAME = 'default';

/** Who was let in, and the rate-limit headers their answer carries (a flat name/value list). */
export interface Admission {
  apiKeyId?: string;
  headers: readonly string[];
}

/** A request refused before anything of it was looked at: 401 (no valid API key) or 429 (over the rate limit). */
export class AccessRefused extends Error {
  constructor(
    readonly status: 401 | 429,
    message: string,
    readonly headers: readonly string[] = [],
  ) {
    super(message);
  }
}

const OPEN: Admission = { headers: [] };

/**
 * Who may send on POST /messages: with API_KEYS set, a valid key (`X-Api-Key` or `Authorization:
 * Bearer`; 401 otherwise), then RATE_LIMIT_PER_MINUTE counted per API key, or per client address
 * without keys (429 with Retry-After), in @nestjs/throttler's storage with its headers
 * (X-RateLimit-Limit / -Remaining / -Reset). The checks of ApiKeyGuard and ApiKeyThrottlerGuard, for
 * the send route that runs outside Nest's router (see SendMessageRoute). With neither configured (the
 * default) a request is admitted synchronously, without a promise.
 */
@Injectable()
export class SendAccess {
  private readonly apiKeys: readonly string[];
  private readonly limit: number;

  constructor(
    @Inject(MESSAGING_SETTINGS) settings: MessagingSettings,
    @Inject(ThrottlerStorage) private readonly storage: ThrottlerStorage,
  ) {
    this.apiKeys = settings.security.apiKeys;
    this.limit = settings.security.rateLimitPerMinute;
  }

  /** Throws (or rejects with) AccessRefused. */
  admit(request: FastifyRequest): Admission | Promise<Admission> {
    let apiKeyId: string | undefined;
    if (this.apiKeys.length > 0) {
      const presented = presentedApiKey(request.headers);
      apiKeyId = presented === undefined ? undefined : matchApiKey(presented, this.apiKeys);
      if (apiKeyId === undefined) throw new AccessRefused(401, 'a valid API key is required (X-Api-Key or Authorization: Bearer)');
    }
    if (this.limit === 0) return apiKeyId === undefined ? OPEN : { apiKeyId, headers: [] };
    return this.count(apiKeyTracker({ apiKeyId }) ?? `ip:${request.ip}`, apiKeyId);
  }

  private async count(tracker: string, apiKeyId: string | undefined): Promise<Admission> {
    const record = await this.storage.increment(`send:${tracker}`, RATE_WINDOW_MS, this.limit, RATE_WINDOW_MS, THROTTLER_NAME);
    if (record.isBlocked) {
      throw new AccessRefused(429, 'ThrottlerException: Too Many Requests', ['retry-after', String(record.timeToBlockExpire)]);
    }
    const headers = [
      'x-ratelimit-limit',
      String(this.limit),
      'x-ratelimit-remaining',
      String(Math.max(0, this.limit - record.totalHits)),
      'x-ratelimit-reset',
      String(record.timeToExpire),
    ];
    return { apiKeyId, headers };
  }
}
