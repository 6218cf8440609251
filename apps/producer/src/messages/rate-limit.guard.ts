import { MESSAGING_SETTINGS, type MessagingSettings } from '@app/messaging';
import { ApiKeyThrottlerGuard } from '@app/http-platform';
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';

/**
 * RATE_LIMIT_PER_MINUTE on POST /messages: @nestjs/throttler's guard, counting per API key (see
 * ApiKeyThrottlerGuard), when a limit is set. With the
 * limit at 0 (off, the default) a request goes through at once, without the throttler's metadata
 * lookups and promises on every request.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly enabled: boolean;

  constructor(
    private readonly throttler: ApiKeyThrottlerGuard,
    @Inject(MESSAGING_SETTINGS) settings: MessagingSettings,
  ) {
    this.enabled = settings.security.rateLimitPerMinute > 0;
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    return this.enabled ? this.throttler.canActivate(context) : true;
  }
}
