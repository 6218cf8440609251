import { InvalidConfigurationError } from './invalid-configuration.error';
import { loadMessagingSettings } from './load-settings';
import type { MessagingSettings } from './messaging-settings';
import { DEFAULT_SUBSCRIPTION, type SubscriptionDefinition } from './subscription-definition';
import { keyspaceOf, resolveSubscriptions } from './subscription-settings';

const AUDIT: SubscriptionDefinition = { name: 'audit', queue: 'audit.consumer', bindings: ['order.*'] };

function settingsWith(subscriptions?: readonly SubscriptionDefinition[], env: NodeJS.ProcessEnv = {}): MessagingSettings {
  return { ...loadMessagingSettings(env), subscriptions };
}

function refusal(subscriptions: readonly SubscriptionDefinition[], env: NodeJS.ProcessEnv = {}): InvalidConfigurationError {
  try {
    resolveSubscriptions(settingsWith(subscriptions, env));
  } catch (error) {
    if (error instanceof InvalidConfigurationError) return error;
    throw error;
  }
  throw new Error('the subscriptions were accepted');
}

describe('resolveSubscriptions', () => {
  it('is the default subscription alone when the settings name none, with the names and policy of the environment', () => {
    const [only, ...others] = resolveSubscriptions(
      settingsWith(undefined, { MESSAGING_QUEUE: 'work', MESSAGING_DLQ: 'work.dead', CONSUMER_PREFETCH: '7', CONSUMER_MAX_ATTEMPTS: '3' }),
    );
    expect(others).toEqual([]);
    expect(only).toMatchObject({
      name: 'messaging-consumer',
      isDefault: true,
      queue: 'work',
      deadLetterQueue: 'work.dead',
      bindings: ['#'],
      prefetch: 7,
      maxAttempts: 3,
      retryBaseDelayMs: 1000,
      retryMaxDelayMs: 60_000,
      deliveryLimit: 100,
      keyspace: undefined,
      channel: undefined,
    });
  });

  it('is none for an empty list (a publish-only service declares no queue)', () => {
    expect(resolveSubscriptions(settingsWith([]))).toEqual([]);
  });

  it('fills in what a subscription leaves out from the CONSUMER_* settings, and names its DLQ after its queue', () => {
    const [, audit] = resolveSubscriptions(settingsWith([DEFAULT_SUBSCRIPTION, AUDIT], { CONSUMER_RETRY_BASE_DELAY_MS: '250' }));
    expect(audit).toMatchObject({
      name: 'audit',
      isDefault: false,
      queue: 'audit.consumer',
      deadLetterQueue: 'audit.consumer.dlq',
      bindings: ['order.*'],
      prefetch: 50,
      maxAttempts: 5,
      retryBaseDelayMs: 250,
      keyspace: 'audit.consumer',
      channel: 'subscription:audit',
    });
    expect(audit.isPermanent(new Error('x'))).toBe(false);
  });

  it('keeps what a subscription declares', () => {
    const isPermanent = (error: unknown) => error instanceof RangeError;
    const [audit] = resolveSubscriptions(
      settingsWith([
        {
          ...AUDIT,
          deadLetterQueue: 'audit.dead',
          prefetch: 3,
          deliveryLimit: 9,
          retry: { maxAttempts: 2, baseDelayMs: 100, maxDelayMs: 150, isPermanent },
        },
      ]),
    );
    expect(audit).toMatchObject({ deadLetterQueue: 'audit.dead', prefetch: 3, deliveryLimit: 9, maxAttempts: 2, retryBaseDelayMs: 100 });
    expect(audit.retryMaxDelayMs).toBe(150);
    expect(audit.isPermanent).toBe(isPermanent);
  });

  it.each<[string, SubscriptionDefinition, string]>([
    ['no queue', { name: 'audit' }, 'Invalid configuration: subscriptions[0].queue is required (subscription audit)'],
    ['a bad name', { name: 'a b', queue: 'q' }, 'subscriptions[0].name must be 1-200 characters'],
    ['a bad queue', { name: 'a', queue: 'q/1' }, 'subscriptions[0].queue must be 1-200 characters'],
    ['no binding', { name: 'a', queue: 'q', bindings: [] }, 'subscriptions[0].bindings must name at least one pattern'],
    [
      'a binding that is no pattern',
      { name: 'a', queue: 'q', bindings: ['order.'] },
      'subscriptions[0].bindings.0 must be a topic pattern',
    ],
    ['a prefetch of 0', { name: 'a', queue: 'q', prefetch: 0 }, 'subscriptions[0].prefetch'],
    [
      'a fractional attempt count',
      { name: 'a', queue: 'q', retry: { maxAttempts: 1.5 } },
      'subscriptions[0].retry.maxAttempts must be a whole number',
    ],
    [
      'a ceiling below the base delay',
      { name: 'a', queue: 'q', retry: { baseDelayMs: 500, maxDelayMs: 100 } },
      'subscriptions[0].retry.maxDelayMs (100) must not be below retry.baseDelayMs (500)',
    ],
    [
      'a predicate that is no function',
      { name: 'a', queue: 'q', retry: { isPermanent: true as never } },
      'retry.isPermanent must be a function',
    ],
  ])('refuses a subscription with %s, naming the field', (_, definition, message) => {
    expect(refusal([definition]).message).toContain(message);
  });

  it.each<[string, SubscriptionDefinition[], string]>([
    ['a name', [AUDIT, { ...AUDIT, queue: 'other' }], 'subscriptions[1].name (audit) is already used by subscription audit'],
    [
      'a queue',
      [DEFAULT_SUBSCRIPTION, { ...AUDIT, queue: 'messaging.consumer' }],
      'subscriptions[1].queue (messaging.consumer) is already used',
    ],
    ['a DLQ as a queue', [DEFAULT_SUBSCRIPTION, { ...AUDIT, queue: 'messaging.consumer.dlq' }], 'subscriptions[1].queue'],
    ['a DLQ', [DEFAULT_SUBSCRIPTION, { ...AUDIT, deadLetterQueue: 'messaging.consumer.dlq' }], 'subscriptions[1].deadLetterQueue'],
  ])('refuses two subscriptions that share %s', (_, definitions, message) => {
    expect(refusal(definitions).message).toContain(message);
  });

  it('refuses a retry policy whose delays outlast IDEMPOTENCY_TTL_SECONDS, as for the environment', () => {
    const env = { IDEMPOTENCY_TTL_SECONDS: String(86_400 + 120) };
    const long = { ...AUDIT, retry: { maxAttempts: 10, baseDelayMs: 60_000, maxDelayMs: 3_600_000 } };
    const error = refusal([long], env);
    expect(error.variable).toBe('IDEMPOTENCY_TTL_SECONDS');
    expect(error.message).toContain('for subscription audit');
    expect(error.related).toEqual(['subscriptions[0].retry']);
  });
});

describe('keyspaceOf', () => {
  it('is none for the default subscription (the keys of earlier versions) and the queue for every other', () => {
    expect(keyspaceOf(DEFAULT_SUBSCRIPTION)).toBeUndefined();
    expect(keyspaceOf({ ...DEFAULT_SUBSCRIPTION, queue: 'elsewhere' })).toBeUndefined();
    expect(keyspaceOf(AUDIT)).toBe('audit.consumer');
  });
});
