// The '@app/messaging' barrel loads @nestjs/terminus, which is ESM-only and cannot be required inside
// Jest on Node 20; the guard needs only these names from it, and the test gives both guards by hand.
jest.mock('@app/messaging', () => ({ MESSAGING_SETTINGS: 'MESSAGING_SETTINGS' }));
jest.mock('@app/http-platform', () => ({ ApiKeyGuard: class {}, ApiKeyThrottlerGuard: class {} }));
import type { ApiKeyGuard, ApiKeyThrottlerGuard } from '@app/http-platform';
import type { MessagingSettings } from '@app/messaging';
import { UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import { SendAccessGuard } from './send-access.guard';

function guardWith(rateLimitPerMinute: number, keyValid: boolean) {
  const calls: string[] = [];
  const apiKeys = {
    canActivate: () => {
      calls.push('api key');
      if (!keyValid) throw new UnauthorizedException();
      return true;
    },
  };
  const throttler = {
    canActivate: () => {
      calls.push('throttler');
      return Promise.resolve(true);
    },
  };
  const settings = { security: { rateLimitPerMinute } } as MessagingSettings;
  const guard = new SendAccessGuard(apiKeys as unknown as ApiKeyGuard, throttler as unknown as ApiKeyThrottlerGuard, settings);
  return { guard, calls };
}

const context = {} as ExecutionContext;

describe('SendAccessGuard', () => {
  it('checks the API key, then counts the request against the rate limit when one is set', async () => {
    const { guard, calls } = guardWith(60, true);
    expect(await guard.canActivate(context)).toBe(true);
    expect(calls).toEqual(['api key', 'throttler']);
  });

  it('lets a request with a valid key through at once, without the throttler, when the rate limit is off', () => {
    const { guard, calls } = guardWith(0, true);
    expect(guard.canActivate(context)).toBe(true);
    expect(calls).toEqual(['api key']);
  });

  it('refuses a request without a valid key before it is counted', () => {
    const { guard, calls } = guardWith(60, false);
    expect(() => guard.canActivate(context)).toThrow(UnauthorizedException);
    expect(calls).toEqual(['api key']);
  });
});
