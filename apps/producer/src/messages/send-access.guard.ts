import { ApiKeyGuard, ApiKeyThrottlerGuard } from '@app/http-platform';
import { MESSAGING_SETTINGS, type MessagingSettings } from '@app/messaging';
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';

/**
 * Who may send on POST /messages, as one guard: the API key (ApiKeyGuard: 401 without a valid one
 * when API_KEYS is set), then RATE_LIMIT_PER_MINUTE (@nestjs/throttler's guard, counting per API key,
 * see ApiKeyThrottlerGuard; 429). One guard instead of two saves Nest a guard call and an await on
 * every request; with the limit at 0 (off, the default) a request goes through without the
 * throttler's metadata lookups and promises.
 */
@Injectable()
export class SendAccessGuard implements CanActivate {
  private readonly rateLimited: boolean;

  constructor(
    private readonly apiKeys: ApiKeyGuard,
    private readonly throttler: ApiKeyThrottlerGuard,
    @Inject(MESSAGING_SETTINGS) settings: MessagingSettings,
  ) {
    this.rateLimited = settings.security.rateLimitPerMinute > 0;
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    // Throws 401 without a valid key; the throttler then counts the request against that key.
    this.apiKeys.canActivate(context);
    return this.rateLimited ? this.throttler.canActivate(context) : true;
  }
}
