import { InvalidConfigurationError } from './invalid-configuration.error';
import { REPLICA_ACK_MARGIN_MS, type MessagingSettings } from './messaging-settings';

/**
 * Bytes the envelope may add to a request body: the id (at most 200 characters), `occurredAt`,
 * `schemaVersion` and their keys come to about 300; this rounds up. (Numbers are re-encoded too, and
 * `1e5` becomes `100000`: a body that grows past the broker's limit that way is refused at publish.)
 */
export const ENVELOPE_OVERHEAD_BYTES = 1024;

/**
 * Renewals of the exclusive guard's lock happen every third of its TTL, and a failed one is tried
 * again soon after (lock-renewal.ts): four command timeouts per TTL let two tries land in time.
 */
const LOCK_TTL_COMMAND_TIMEOUTS = 4;
/** The guard hands a held delivery back at 80 % of CONSUMER_TIMEOUT_MS; a command begun just before must end in the rest. */
const CONSUMER_TIMEOUT_COMMAND_TIMEOUTS = 5;

interface ConsistencyRule {
  /** The variable the message names first: the one to change in the usual case. */
  variable: string;
  related: string[];
  /** The reason (after "Invalid configuration: <variable> ") when the settings break the rule. */
  violation: (settings: MessagingSettings) => string | undefined;
}

/**
 * The longest two copies of one message can arrive apart: a copy replayed from the outbox as late as
 * its age limit allows (OUTBOX_MAX_AGE_MS, plus one backoff: the age is checked when a replay fails),
 * plus the retry delays a copy spends in the delay queues (one per failed attempt before the DLQ,
 * the delays of topology.ts: base * 2^(n−1), capped).
 */
export function longestDuplicateGapMs(settings: MessagingSettings): number {
  const { maxAttempts, retryBaseDelayMs, retryMaxDelayMs } = settings.consumer;
  return settings.outbox.maxAgeMs + settings.outbox.backoffMaxMs + retryDelaysTotalMs(maxAttempts, retryBaseDelayMs, retryMaxDelayMs);
}

/** The time a message spends in delay queues when every one of its attempts fails. */
export function retryDelaysTotalMs(maxAttempts: number, baseMs: number, maxMs: number): number {
  let total = 0;
  for (let failed = 1; failed < maxAttempts; failed++) total += Math.min(maxMs, baseMs * 2 ** (failed - 1));
  return total;
}

/** Every pair (or group) of settings that contradict each other, in the order they are checked. */
export const CONSISTENCY_RULES: readonly ConsistencyRule[] = [
  {
    variable: 'OUTBOX_BACKOFF_MAX_MS',
    related: ['OUTBOX_BACKOFF_BASE_MS'],
    violation: ({ outbox: { backoffMaxMs, backoffBaseMs } }) =>
      backoffMaxMs < backoffBaseMs ? `(${backoffMaxMs}) must not be below OUTBOX_BACKOFF_BASE_MS (${backoffBaseMs})` : undefined,
  },
  {
    variable: 'CONSUMER_RETRY_MAX_DELAY_MS',
    related: ['CONSUMER_RETRY_BASE_DELAY_MS'],
    violation: ({ consumer: { retryMaxDelayMs, retryBaseDelayMs } }) =>
      retryMaxDelayMs < retryBaseDelayMs
        ? `(${retryMaxDelayMs}) must not be below CONSUMER_RETRY_BASE_DELAY_MS (${retryBaseDelayMs})`
        : undefined,
  },
  {
    variable: 'OUTBOX_LEASE_MS',
    related: ['PUBLISH_CONFIRM_TIMEOUT_MS', 'REDIS_COMMAND_TIMEOUT_MS'],
    violation: ({ outbox: { leaseMs }, publishing: { confirmTimeoutMs }, redis: { commandTimeoutMs } }) => {
      const needed = confirmTimeoutMs + 2 * commandTimeoutMs;
      return leaseMs < needed
        ? `(${leaseMs}) must be at least PUBLISH_CONFIRM_TIMEOUT_MS + 2 * REDIS_COMMAND_TIMEOUT_MS ` +
            `(${confirmTimeoutMs} + 2 * ${commandTimeoutMs} = ${needed}): a replayer holds its lease through the claim's answer, ` +
            `the batch's confirm wait and the removal, and a lease that runs out sooner lets another replayer send messages still in flight (duplicates)`
        : undefined;
    },
  },
  {
    variable: 'IDEMPOTENCY_LOCK_TTL_MS',
    related: ['REDIS_COMMAND_TIMEOUT_MS'],
    violation: ({ idempotency: { lockTtlMs }, redis: { commandTimeoutMs } }) => {
      const needed = LOCK_TTL_COMMAND_TIMEOUTS * commandTimeoutMs;
      return lockTtlMs < needed
        ? `(${lockTtlMs}) must be at least 4 * REDIS_COMMAND_TIMEOUT_MS (4 * ${commandTimeoutMs} = ${needed}): the lock is renewed ` +
            `every third of its TTL, and after a renewal that timed out the next one must still land before the lock runs out`
        : undefined;
    },
  },
  {
    variable: 'CONSUMER_TIMEOUT_MS',
    related: ['REDIS_COMMAND_TIMEOUT_MS'],
    violation: ({ consumer: { brokerConsumerTimeoutMs }, redis: { commandTimeoutMs } }) => {
      const needed = CONSUMER_TIMEOUT_COMMAND_TIMEOUTS * commandTimeoutMs;
      return brokerConsumerTimeoutMs < needed
        ? `(${brokerConsumerTimeoutMs}) must be at least 5 * REDIS_COMMAND_TIMEOUT_MS (5 * ${commandTimeoutMs} = ${needed}): a held ` +
            `delivery is handed back at 80 % of it, and a Redis command begun just before must end before the broker's timeout`
        : undefined;
    },
  },
  {
    variable: 'IDEMPOTENCY_LOCK_TTL_MS',
    related: ['CONSUMER_TIMEOUT_MS'],
    violation: ({ idempotency: { lockTtlMs }, consumer: { brokerConsumerTimeoutMs } }) =>
      lockTtlMs >= brokerConsumerTimeoutMs
        ? `(${lockTtlMs}) must be below CONSUMER_TIMEOUT_MS (${brokerConsumerTimeoutMs}): a delivery waiting for the lock of a ` +
          `consumer that died must get it before the broker's consumer_timeout takes the delivery away`
        : undefined,
  },
  {
    variable: 'IDEMPOTENCY_COMMIT_FLUSH_MS',
    related: ['REDIS_COMMAND_TIMEOUT_MS'],
    violation: ({ idempotency: { commitBatch }, redis: { commandTimeoutMs } }) =>
      commitBatch.flushMs >= commandTimeoutMs
        ? `(${commitBatch.flushMs}) must be below REDIS_COMMAND_TIMEOUT_MS (${commandTimeoutMs}): a commit's wait for company ` +
          `is a small part of the time it may take`
        : undefined,
  },
  {
    variable: 'REDIS_REPLICA_ACK_TIMEOUT_MS',
    related: ['REDIS_COMMAND_TIMEOUT_MS', 'REDIS_MIN_REPLICA_ACKS'],
    violation: ({ redis: { replicaAckTimeoutMs, commandTimeoutMs, minReplicaAcks } }) => {
      const allowed = commandTimeoutMs - REPLICA_ACK_MARGIN_MS;
      return minReplicaAcks > 0 && replicaAckTimeoutMs > allowed
        ? `(${replicaAckTimeoutMs}) must be at most REDIS_COMMAND_TIMEOUT_MS - ${REPLICA_ACK_MARGIN_MS} (${commandTimeoutMs} - ` +
            `${REPLICA_ACK_MARGIN_MS} = ${allowed}) when REDIS_MIN_REPLICA_ACKS is ${minReplicaAcks}: WAIT is a Redis command like any ` +
            `other, and a client that gives up on it first cannot tell a replica shortfall from a lost connection`
        : undefined;
    },
  },
  {
    variable: 'MAX_BODY_BYTES',
    related: ['RABBITMQ_MAX_MESSAGE_BYTES'],
    violation: ({ publishing: { maxBodyBytes, brokerMaxMessageBytes } }) => {
      const allowed = brokerMaxMessageBytes - ENVELOPE_OVERHEAD_BYTES;
      return maxBodyBytes > allowed
        ? `(${maxBodyBytes}) must be at most RABBITMQ_MAX_MESSAGE_BYTES - ${ENVELOPE_OVERHEAD_BYTES} (${brokerMaxMessageBytes} - ` +
            `${ENVELOPE_OVERHEAD_BYTES} = ${allowed}): the broker refuses a message over its max_message_size, and the envelope adds to the body`
        : undefined;
    },
  },
  {
    variable: 'PUBLISH_MAX_IN_FLIGHT_BYTES',
    related: ['MAX_BODY_BYTES'],
    violation: ({ publishing: { maxInFlightBytes, maxBodyBytes } }) => {
      const needed = maxBodyBytes + ENVELOPE_OVERHEAD_BYTES;
      return maxInFlightBytes < needed
        ? `(${maxInFlightBytes}) must be at least MAX_BODY_BYTES + ${ENVELOPE_OVERHEAD_BYTES} (${maxBodyBytes} + ` +
            `${ENVELOPE_OVERHEAD_BYTES} = ${needed}): a message of the largest accepted body, in its envelope, must fit in the confirm window`
        : undefined;
    },
  },
  {
    variable: 'OUTBOX_REPLAY_BATCH_SIZE',
    related: ['PUBLISH_MAX_IN_FLIGHT'],
    violation: ({ outbox: { replayBatchSize }, publishing: { maxInFlight } }) =>
      replayBatchSize > maxInFlight
        ? `(${replayBatchSize}) must not exceed PUBLISH_MAX_IN_FLIGHT (${maxInFlight}): a replay batch has all its confirms in ` +
          `flight together, and sends beyond the confirm window fail at once`
        : undefined,
  },
  {
    variable: 'IDEMPOTENCY_TTL_SECONDS',
    related: [
      'OUTBOX_MAX_AGE_MS',
      'OUTBOX_BACKOFF_MAX_MS',
      'CONSUMER_MAX_ATTEMPTS',
      'CONSUMER_RETRY_BASE_DELAY_MS',
      'CONSUMER_RETRY_MAX_DELAY_MS',
    ],
    violation: (settings) => {
      const gapMs = longestDuplicateGapMs(settings);
      const neededSeconds = Math.ceil(gapMs / 1000);
      return settings.idempotency.ttlSeconds < neededSeconds
        ? `(${settings.idempotency.ttlSeconds}) must be at least ${neededSeconds}: the longest a duplicate can arrive after its ` +
            `first copy is OUTBOX_MAX_AGE_MS + OUTBOX_BACKOFF_MAX_MS (outbox) + the retry delays over CONSUMER_MAX_ATTEMPTS ` +
            `(CONSUMER_RETRY_BASE_DELAY_MS, CONSUMER_RETRY_MAX_DELAY_MS) = ${gapMs} ms, and a duplicate arriving after the ` +
            `processed id is forgotten is processed again`
        : undefined;
    },
  },
];

/** Throws an InvalidConfigurationError for the first rule the settings break. */
export function assertConsistentSettings(settings: MessagingSettings): void {
  for (const rule of CONSISTENCY_RULES) {
    const reason = rule.violation(settings);
    if (reason !== undefined) throw new InvalidConfigurationError(rule.variable, reason, rule.related);
  }
}
