import { z } from 'zod';
import { amqpUrls, int, name, optionalInt, redisUrl } from './env-values';
import type { SubscriptionDefinition } from './subscription-definition';

/**
 * Every setting of the messaging system, read from the environment. Each entry names its variable,
 * its default and its bounds in one place, so an operator can read the whole surface here.
 */
export const messagingEnvSchema = z.object({
  RABBITMQ_URL: amqpUrls('amqp://guest:guest@localhost:5672'),
  REDIS_URL: redisUrl('redis://localhost:6379'),
  PRODUCER_PORT: int(3000, 1, 65535),
  CONSUMER_PORT: int(3001, 1, 65535),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  MESSAGING_EXCHANGE: name('messaging.events'),
  MESSAGING_QUEUE: name('messaging.consumer'),
  MESSAGING_DLQ: name('messaging.consumer.dlq'),
  MESSAGING_DEAD_LETTER_EXCHANGE: name('messaging.dead-letter'),
  REDIS_KEY_PREFIX: name('messaging'),
  PROCESSED_STREAM: name('messaging:processed'),

  /** How long a POST waits for the broker's confirm before the message goes to the outbox. */
  PUBLISH_CONFIRM_TIMEOUT_MS: int(2000, 50, 60_000),
  /**
   * Confirms outstanding at once on the publisher channel, by count and by body bytes. Beyond either a
   * send fails at once (the message goes to the outbox), so a broker that is slow to confirm cannot
   * grow the producer's memory without bound.
   */
  PUBLISH_MAX_IN_FLIGHT: int(1000, 1, 100_000),
  PUBLISH_MAX_IN_FLIGHT_BYTES: int(64 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
  /** The broker's `max_message_size` (RabbitMQ 4's default: 16 MiB); a body must fit in it with its envelope. */
  RABBITMQ_MAX_MESSAGE_BYTES: int(16 * 1024 * 1024, 4096, 512 * 1024 * 1024),
  /**
   * A Redis command that takes longer fails, so a request never hangs on Redis. Default 1000 ms; with
   * replica acks required, at least REDIS_REPLICA_ACK_TIMEOUT_MS + REPLICA_ACK_MARGIN_MS (redisCommandTimeoutMs).
   */
  REDIS_COMMAND_TIMEOUT_MS: optionalInt(50, 60_000),
  /** Replicas that must acknowledge (Redis WAIT) an outbox write before its 202, and a consumer's commit before its ack. */
  REDIS_MIN_REPLICA_ACKS: int(0, 0, 16),
  /** How long to wait for those acknowledgements; a shortfall is a failed write. */
  REDIS_REPLICA_ACK_TIMEOUT_MS: int(1000, 10, 60_000),
  /** Largest accepted HTTP body. */
  MAX_BODY_BYTES: int(262_144, 1024, 16 * 1024 * 1024),
  /**
   * Deepest nesting of objects and arrays a payload may have (the payload object itself is level 1).
   * Deeper payloads are refused before anything is published (400 on POST /messages). The ceiling
   * keeps JSON encoding, and the consumer's handlers, far from the JavaScript stack limit (~4,000
   * levels inside a request).
   */
  MAX_PAYLOAD_DEPTH: int(64, 1, 1000),

  OUTBOX_REPLAY_INTERVAL_MS: int(1000, 50, 3_600_000),
  OUTBOX_REPLAY_BATCH_SIZE: int(500, 1, 10_000),
  /** A claimed message is invisible to other replayers for this long; a replayer that dies frees it then. */
  OUTBOX_LEASE_MS: int(30_000, 1000, 3_600_000),
  OUTBOX_BACKOFF_BASE_MS: int(500, 10, 3_600_000),
  OUTBOX_BACKOFF_MAX_MS: int(60_000, 10, 86_400_000),
  /** After this many failed replays a message is parked (kept, counted, listable), never deleted. */
  OUTBOX_MAX_ATTEMPTS: int(50, 1, 1_000_000),
  /** A message older than this when a replay fails is parked. */
  OUTBOX_MAX_AGE_MS: int(86_400_000, 1000, 365 * 86_400_000),

  CONSUMER_PREFETCH: int(50, 1, 10_000),
  /** Handler attempts before a message is dead-lettered. */
  CONSUMER_MAX_ATTEMPTS: int(5, 1, 100),
  CONSUMER_RETRY_BASE_DELAY_MS: int(1000, 10, 3_600_000),
  CONSUMER_RETRY_MAX_DELAY_MS: int(60_000, 10, 86_400_000),
  /**
   * The quorum queue's own redelivery limit. Deliveries are counted by the broker when a consumer
   * dies or its channel closes; past the limit the broker dead-letters to the DLQ (never drops).
   */
  CONSUMER_DELIVERY_LIMIT: int(100, 2, 100_000),
  /**
   * The broker's `consumer_timeout` (RabbitMQ's default: 30 min). A delivery left unacknowledged longer
   * makes the broker close the channel; the consumer hands a delivery it holds (waiting for Redis) back
   * before that.
   */
  CONSUMER_TIMEOUT_MS: int(1_800_000, 5000, 7 * 86_400_000),
  /**
   * How long a processed id is remembered; a duplicate arriving later than this is processed again.
   * Up to two years, so that even the longest OUTBOX_MAX_AGE_MS (a year) has a window that covers it.
   */
  IDEMPOTENCY_TTL_SECONDS: int(7 * 86_400, 60, 2 * 365 * 86_400),
  /** How long one delivery holds an id while its handler runs (renewed while it runs). */
  IDEMPOTENCY_LOCK_TTL_MS: int(30_000, 1000, 3_600_000),
  /**
   * Commits of `atomic` handlers that come close together go to Redis in one script (each message's
   * effect still atomic with its own done mark): at most this many per script...
   */
  IDEMPOTENCY_COMMIT_BATCH_SIZE: int(100, 1, 1000),
  /** ...and a commit waits at most this long for company (0: only for the commits of the same event-loop turn). */
  IDEMPOTENCY_COMMIT_FLUSH_MS: int(0, 0, 100),

  /** Bound on the wait for in-flight work at SIGTERM. */
  SHUTDOWN_TIMEOUT_MS: int(10_000, 0, 600_000),

  /** Comma-separated API keys; when set they are required on POST /messages and admin routes. */
  API_KEYS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((key) => key.trim())
        .filter((key) => key.length > 0),
    )
    .refine((keys) => keys.every((key) => key.length >= 16), { message: 'each key must be at least 16 characters' }),
  RATE_LIMIT_PER_MINUTE: int(0, 0, 10_000_000),
  /** The other app's base URL (http://consumer:3001 on the producer, ...); the console adds its /metrics counters. Empty: this app's own only. */
  CONSOLE_PEER_URL: z
    .string()
    .default('')
    .refine((url) => url === '' || (/^https?:\/\/[^/?#]+\/?$/.test(url) && URL.canParse(url)), {
      message: 'must be empty or an http:// or https:// base URL (scheme, host and port, no path)',
    }),
});

export type MessagingEnv = z.output<typeof messagingEnvSchema>;

export interface MessagingSettings {
  rabbitmqUrls: string[];
  redisUrl: string;
  producerPort: number;
  consumerPort: number;
  logLevel: MessagingEnv['LOG_LEVEL'];
  names: {
    exchange: string;
    queue: string;
    deadLetterQueue: string;
    deadLetterExchange: string;
    redisKeyPrefix: string;
    processedStream: string;
  };
  publishing: {
    confirmTimeoutMs: number;
    maxBodyBytes: number;
    maxInFlight: number;
    maxInFlightBytes: number;
    brokerMaxMessageBytes: number;
    maxPayloadDepth: number;
    /**
     * Largest encoded envelope publish() accepts (derived): the smaller of RABBITMQ_MAX_MESSAGE_BYTES
     * (the broker refuses more) and PUBLISH_MAX_IN_FLIGHT_BYTES (it could never enter the confirm window).
     */
    maxMessageBytes: number;
  };
  redis: { commandTimeoutMs: number; minReplicaAcks: number; replicaAckTimeoutMs: number };
  outbox: {
    replayIntervalMs: number;
    replayBatchSize: number;
    leaseMs: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    maxAttempts: number;
    maxAgeMs: number;
  };
  consumer: {
    prefetch: number;
    maxAttempts: number;
    retryBaseDelayMs: number;
    retryMaxDelayMs: number;
    deliveryLimit: number;
    brokerConsumerTimeoutMs: number;
  };
  idempotency: { ttlSeconds: number; lockTtlMs: number; commitBatch: { maxSize: number; flushMs: number } };
  shutdownTimeoutMs: number;
  security: { apiKeys: string[]; rateLimitPerMinute: number };
  /**
   * The subscriptions a service declares in code (subscription-settings.ts); not read from the
   * environment. Undefined: the default subscription alone (MESSAGING_QUEUE and the CONSUMER_*
   * settings). `[]`: none, for a publish-only service that declares no queue of its own.
   */
  subscriptions?: readonly SubscriptionDefinition[];
  console: { peerUrl?: string };
}

/** What a WAIT's answer may take past its own timeout before the client's command timeout cuts it. */
export const REPLICA_ACK_MARGIN_MS = 250;
const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 1000;

/**
 * REDIS_COMMAND_TIMEOUT_MS, or its default: 1000 ms, raised with replica acks required so that the
 * WAIT's own timeout fits inside it (REDIS_MIN_REPLICA_ACKS=1 alone, with the default ack timeout of
 * 1000 ms, gives 1250 ms). Set explicitly, a value that contradicts the ack timeout is refused at start.
 */
function redisCommandTimeoutMs(env: MessagingEnv): number {
  if (env.REDIS_COMMAND_TIMEOUT_MS !== undefined) return env.REDIS_COMMAND_TIMEOUT_MS;
  return env.REDIS_MIN_REPLICA_ACKS > 0
    ? Math.max(DEFAULT_REDIS_COMMAND_TIMEOUT_MS, env.REDIS_REPLICA_ACK_TIMEOUT_MS + REPLICA_ACK_MARGIN_MS)
    : DEFAULT_REDIS_COMMAND_TIMEOUT_MS;
}

/** The settings of a validated environment (load-settings.ts then checks them against each other). */
export function toSettings(env: MessagingEnv): MessagingSettings {
  return {
    rabbitmqUrls: env.RABBITMQ_URL,
    redisUrl: env.REDIS_URL,
    producerPort: env.PRODUCER_PORT,
    consumerPort: env.CONSUMER_PORT,
    logLevel: env.LOG_LEVEL,
    names: {
      exchange: env.MESSAGING_EXCHANGE,
      queue: env.MESSAGING_QUEUE,
      deadLetterQueue: env.MESSAGING_DLQ,
      deadLetterExchange: env.MESSAGING_DEAD_LETTER_EXCHANGE,
      redisKeyPrefix: env.REDIS_KEY_PREFIX,
      processedStream: env.PROCESSED_STREAM,
    },
    publishing: {
      confirmTimeoutMs: env.PUBLISH_CONFIRM_TIMEOUT_MS,
      maxBodyBytes: env.MAX_BODY_BYTES,
      maxInFlight: env.PUBLISH_MAX_IN_FLIGHT,
      maxInFlightBytes: env.PUBLISH_MAX_IN_FLIGHT_BYTES,
      brokerMaxMessageBytes: env.RABBITMQ_MAX_MESSAGE_BYTES,
      maxPayloadDepth: env.MAX_PAYLOAD_DEPTH,
      maxMessageBytes: Math.min(env.RABBITMQ_MAX_MESSAGE_BYTES, env.PUBLISH_MAX_IN_FLIGHT_BYTES),
    },
    redis: {
      commandTimeoutMs: redisCommandTimeoutMs(env),
      minReplicaAcks: env.REDIS_MIN_REPLICA_ACKS,
      replicaAckTimeoutMs: env.REDIS_REPLICA_ACK_TIMEOUT_MS,
    },
    outbox: {
      replayIntervalMs: env.OUTBOX_REPLAY_INTERVAL_MS,
      replayBatchSize: env.OUTBOX_REPLAY_BATCH_SIZE,
      leaseMs: env.OUTBOX_LEASE_MS,
      backoffBaseMs: env.OUTBOX_BACKOFF_BASE_MS,
      backoffMaxMs: env.OUTBOX_BACKOFF_MAX_MS,
      maxAttempts: env.OUTBOX_MAX_ATTEMPTS,
      maxAgeMs: env.OUTBOX_MAX_AGE_MS,
    },
    consumer: {
      prefetch: env.CONSUMER_PREFETCH,
      maxAttempts: env.CONSUMER_MAX_ATTEMPTS,
      retryBaseDelayMs: env.CONSUMER_RETRY_BASE_DELAY_MS,
      retryMaxDelayMs: env.CONSUMER_RETRY_MAX_DELAY_MS,
      deliveryLimit: env.CONSUMER_DELIVERY_LIMIT,
      brokerConsumerTimeoutMs: env.CONSUMER_TIMEOUT_MS,
    },
    idempotency: {
      ttlSeconds: env.IDEMPOTENCY_TTL_SECONDS,
      lockTtlMs: env.IDEMPOTENCY_LOCK_TTL_MS,
      commitBatch: { maxSize: env.IDEMPOTENCY_COMMIT_BATCH_SIZE, flushMs: env.IDEMPOTENCY_COMMIT_FLUSH_MS },
    },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    security: { apiKeys: env.API_KEYS, rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE },
    console: { peerUrl: env.CONSOLE_PEER_URL.replace(/\/$/, '') || undefined },
  };
}

/**
 * Whether info lines are written at the configured level. Per-message lines check it once at start, so
 * at LOG_LEVEL=warn the hot path does not even gather their fields.
 */
export function logsInfo(settings: Pick<MessagingSettings, 'logLevel'>): boolean {
  return settings.logLevel === 'info' || settings.logLevel === 'debug' || settings.logLevel === 'trace';
}
