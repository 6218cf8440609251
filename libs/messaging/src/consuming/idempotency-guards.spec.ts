import { resolveSubscriptions, loadMessagingSettings, DEFAULT_SUBSCRIPTION } from '../config';
import type { IdempotencyGuard } from '../idempotency';
import { IdempotencyGuards } from './idempotency-guards';

function fakeGuard(name: string, stopped: string[]): IdempotencyGuard {
  return { name, stop: () => stopped.push(name) } as unknown as IdempotencyGuard;
}

describe('IdempotencyGuards', () => {
  const subscriptions = resolveSubscriptions({
    ...loadMessagingSettings({}),
    subscriptions: [DEFAULT_SUBSCRIPTION, { name: 'audit', queue: 'audit.consumer' }, { name: 'billing', queue: 'billing' }],
  });

  function setUp() {
    const stopped: string[] = [];
    const prefixes: string[] = [];
    const guards = new IdempotencyGuards(
      fakeGuard('default', stopped),
      subscriptions,
      (prefix) => {
        prefixes.push(prefix);
        return fakeGuard(prefix, stopped);
      },
      'messaging',
    );
    return { guards, stopped, prefixes };
  }

  it('keeps the default subscription on the guard of earlier versions and gives each other one a store prefixed with its queue', () => {
    const { guards, prefixes } = setUp();
    expect(prefixes).toEqual(['messaging:audit.consumer', 'messaging:billing']);
    expect((guards.of(undefined) as unknown as { name: string }).name).toBe('default');
    expect((guards.of('audit.consumer') as unknown as { name: string }).name).toBe('messaging:audit.consumer');
  });

  it('refuses a namespace no declared subscription has', () => {
    expect(() => setUp().guards.of('elsewhere')).toThrow('no subscription with the queue elsewhere is declared');
  });

  it('stops every guard', () => {
    const { guards, stopped } = setUp();
    guards.stop();
    expect(stopped).toEqual(['default', 'messaging:audit.consumer', 'messaging:billing']);
  });
});
