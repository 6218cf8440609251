/** The name of the default subscription: the handler name `@Subscribe(DEFAULT_SUBSCRIPTION)` refers to. */
export const DEFAULT_SUBSCRIPTION_NAME = 'messaging-consumer';

/** How often a subscription's handler is tried, how long it waits in between, and which errors are final. */
export interface RetryPolicy {
  /** Handler attempts before a message is dead-lettered (default CONSUMER_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** Delay after the first failed attempt, doubling after each further one (default CONSUMER_RETRY_BASE_DELAY_MS). */
  baseDelayMs?: number;
  /** Ceiling of that delay (default CONSUMER_RETRY_MAX_DELAY_MS). */
  maxDelayMs?: number;
  /** An error for which this answers true goes to the DLQ at once (as a NonRetryableError does). */
  isPermanent?: (error: unknown) => boolean;
}

/**
 * One subscription as an app declares it in code: a work queue of its own, bound to the exchange with
 * its own patterns, with its own delay queues and DLQ, prefetch and retry policy. Everything but the
 * name and (outside the default subscription) the queue has a default.
 */
export interface SubscriptionDefinition {
  /** Unique in the service; the handler that `@Subscribe()` puts on it. */
  name: string;
  /** The work queue. Also the key namespace of the idempotency guard: two queues each do their work once. */
  queue?: string;
  /** Default `<queue>.dlq`. */
  deadLetterQueue?: string;
  /** Topic patterns on the exchange (`order.*`, `#`); default `['#']` (every message). */
  bindings?: readonly string[];
  /** Deliveries in flight on this subscription's channel (default CONSUMER_PREFETCH). */
  prefetch?: number;
  /** The quorum queue's own redelivery limit (default CONSUMER_DELIVERY_LIMIT). */
  deliveryLimit?: number;
  retry?: RetryPolicy;
}

/**
 * The subscription every earlier version had: queue MESSAGING_QUEUE bound with `#`, DLQ MESSAGING_DLQ,
 * the CONSUMER_* settings, and the guard's keys without a namespace (so an upgrade redoes no work).
 */
export const DEFAULT_SUBSCRIPTION: SubscriptionDefinition = Object.freeze({ name: DEFAULT_SUBSCRIPTION_NAME });
