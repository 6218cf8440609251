import { z } from 'zod';
import { InvalidConfigurationError } from './invalid-configuration.error';
import type { MessagingSettings } from './messaging-settings';
import { retryDelaysTotalMs } from './settings-consistency';
import { DEFAULT_SUBSCRIPTION, DEFAULT_SUBSCRIPTION_NAME, type SubscriptionDefinition } from './subscription-definition';

/** A subscription with every default filled in. */
export interface SubscriptionSettings {
  name: string;
  isDefault: boolean;
  queue: string;
  deadLetterQueue: string;
  bindings: string[];
  prefetch: number;
  deliveryLimit: number;
  maxAttempts: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  isPermanent: (error: unknown) => boolean;
  /** Namespace of the guard's keys; undefined for the default subscription (the keys of earlier versions). */
  keyspace: string | undefined;
  /** The golevelup channel it consumes on; undefined for the default channel (the default subscription). */
  channel: string | undefined;
}

const NAME = /^[a-zA-Z0-9._:-]{1,200}$/;
/** A topic binding: dot-separated words of the message type's characters, or the wildcards `*` and `#`. */
const BINDING = /^(?:[a-zA-Z0-9_-]+|\*|#)(?:\.(?:[a-zA-Z0-9_-]+|\*|#))*$/;
const name = z.string().regex(NAME, 'must be 1-200 characters of a-z A-Z 0-9 . _ : -');
const count = (min: number, max: number) => z.number().int('must be a whole number').min(min).max(max);

/** The same bounds as the CONSUMER_* variables (messaging-settings.ts). */
const definitionSchema = z.object({
  name,
  queue: name.optional(),
  deadLetterQueue: name.optional(),
  bindings: z
    .array(z.string().max(255).regex(BINDING, 'must be a topic pattern such as order.* or #'))
    .min(1, 'must name at least one pattern')
    .optional(),
  prefetch: count(1, 10_000).optional(),
  deliveryLimit: count(2, 100_000).optional(),
  retry: z
    .object({
      maxAttempts: count(1, 100).optional(),
      baseDelayMs: count(10, 3_600_000).optional(),
      maxDelayMs: count(10, 86_400_000).optional(),
      isPermanent: z.custom<(error: unknown) => boolean>((value) => typeof value === 'function', 'must be a function').optional(),
    })
    .optional(),
});

const never = () => false;

/** Where an error in the declaration of subscriptions[index] is reported. */
const where = (index: number, path: readonly PropertyKey[] = []) => [`subscriptions[${index}]`, ...path.map(String)].join('.');

/**
 * The subscriptions of the settings with their defaults; `settings.subscriptions` undefined means the
 * default subscription alone, `[]` none (a publish-only service declares no queue). Throws an
 * InvalidConfigurationError naming the first bad field, or two subscriptions that share a queue.
 */
export function resolveSubscriptions(settings: MessagingSettings): SubscriptionSettings[] {
  const definitions = settings.subscriptions ?? [DEFAULT_SUBSCRIPTION];
  const resolved = definitions.map((definition, index) => resolveOne(settings, definition, index));
  assertDistinct(resolved);
  return resolved;
}

function resolveOne(settings: MessagingSettings, definition: SubscriptionDefinition, index: number): SubscriptionSettings {
  const parsed = definitionSchema.safeParse(definition);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidConfigurationError(where(index, issue.path), issue.message);
  }
  const isDefault = definition.name === DEFAULT_SUBSCRIPTION_NAME;
  const queue = definition.queue ?? (isDefault ? settings.names.queue : undefined);
  if (queue === undefined) throw new InvalidConfigurationError(where(index, ['queue']), `is required (subscription ${definition.name})`);
  const { consumer } = settings;
  const retry = definition.retry ?? {};
  const subscription: SubscriptionSettings = {
    name: definition.name,
    isDefault,
    queue,
    deadLetterQueue: definition.deadLetterQueue ?? (isDefault ? settings.names.deadLetterQueue : `${queue}.dlq`),
    bindings: [...(definition.bindings ?? ['#'])],
    prefetch: definition.prefetch ?? consumer.prefetch,
    deliveryLimit: definition.deliveryLimit ?? consumer.deliveryLimit,
    maxAttempts: retry.maxAttempts ?? consumer.maxAttempts,
    retryBaseDelayMs: retry.baseDelayMs ?? consumer.retryBaseDelayMs,
    retryMaxDelayMs: retry.maxDelayMs ?? consumer.retryMaxDelayMs,
    isPermanent: retry.isPermanent ?? never,
    keyspace: keyspaceOf(definition),
    channel: isDefault ? undefined : `subscription:${definition.name}`,
  };
  if (subscription.retryMaxDelayMs < subscription.retryBaseDelayMs) {
    throw new InvalidConfigurationError(
      where(index, ['retry', 'maxDelayMs']),
      `(${subscription.retryMaxDelayMs}) must not be below retry.baseDelayMs (${subscription.retryBaseDelayMs})`,
    );
  }
  assertRememberedLongEnough(settings, subscription, index);
  return subscription;
}

/**
 * The guard's key namespace of a subscription: its queue, so that two services (or two subscriptions)
 * that receive the same message each do their work once, while competing consumers of one queue share
 * the marks. The default subscription keeps the keys of earlier versions, without a namespace.
 */
export function keyspaceOf(definition: SubscriptionDefinition): string | undefined {
  return definition.name === DEFAULT_SUBSCRIPTION_NAME ? undefined : definition.queue;
}

/** The rule IDEMPOTENCY_TTL_SECONDS follows (settings-consistency.ts), with this subscription's retry delays. */
function assertRememberedLongEnough(settings: MessagingSettings, subscription: SubscriptionSettings, index: number): void {
  const { maxAttempts, retryBaseDelayMs, retryMaxDelayMs } = subscription;
  const gapMs =
    settings.outbox.maxAgeMs + settings.outbox.backoffMaxMs + retryDelaysTotalMs(maxAttempts, retryBaseDelayMs, retryMaxDelayMs);
  const neededSeconds = Math.ceil(gapMs / 1000);
  if (settings.idempotency.ttlSeconds < neededSeconds) {
    throw new InvalidConfigurationError(
      'IDEMPOTENCY_TTL_SECONDS',
      `(${settings.idempotency.ttlSeconds}) must be at least ${neededSeconds} for subscription ${subscription.name}: a duplicate ` +
        `can arrive OUTBOX_MAX_AGE_MS + OUTBOX_BACKOFF_MAX_MS + its retry delays (${where(index, ['retry'])}) = ${gapMs} ms after its first copy`,
      [where(index, ['retry'])],
    );
  }
}

function assertDistinct(subscriptions: SubscriptionSettings[]): void {
  const seen = new Map<string, string>();
  subscriptions.forEach((subscription, index) => {
    const claims: [string, string][] = [
      [`name ${subscription.name}`, 'name'],
      [`queue ${subscription.queue}`, 'queue'],
      [`queue ${subscription.deadLetterQueue}`, 'deadLetterQueue'],
    ];
    for (const [claim, field] of claims) {
      const holder = seen.get(claim);
      if (holder !== undefined) {
        throw new InvalidConfigurationError(where(index, [field]), `(${claim.split(' ')[1]}) is already used by ${holder}`);
      }
      seen.set(claim, `subscription ${subscription.name}`);
    }
  });
}
