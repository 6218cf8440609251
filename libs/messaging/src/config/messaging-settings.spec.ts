import { InvalidConfigurationError } from './invalid-configuration.error';
import { loadMessagingSettings } from './load-settings';
import { messagingEnvSchema } from './messaging-settings';

function loadError(env: NodeJS.ProcessEnv): InvalidConfigurationError {
  try {
    loadMessagingSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidConfigurationError);
    return error as InvalidConfigurationError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be rejected`);
}

function expectRejected(variable: string, value: string, extra: NodeJS.ProcessEnv = {}): InvalidConfigurationError {
  const error = loadError({ ...extra, [variable]: value });
  expect(error.variable).toBe(variable);
  expect(error.message.startsWith(`Invalid configuration: ${variable} `)).toBe(true);
  return error;
}

/** Every numeric variable with its bounds, as the schema declares them. */
const NUMERIC: [string, number, number][] = [
  ['PRODUCER_PORT', 1, 65535],
  ['CONSUMER_PORT', 1, 65535],
  ['PUBLISH_CONFIRM_TIMEOUT_MS', 50, 60_000],
  ['REDIS_COMMAND_TIMEOUT_MS', 50, 60_000],
  ['PUBLISH_MAX_IN_FLIGHT', 1, 100_000],
  ['PUBLISH_MAX_IN_FLIGHT_BYTES', 64 * 1024, 1024 * 1024 * 1024],
  ['RABBITMQ_MAX_MESSAGE_BYTES', 4096, 512 * 1024 * 1024],
  ['REDIS_MIN_REPLICA_ACKS', 0, 16],
  ['REDIS_REPLICA_ACK_TIMEOUT_MS', 10, 60_000],
  ['CONSUMER_TIMEOUT_MS', 5000, 7 * 86_400_000],
  ['MAX_BODY_BYTES', 1024, 16 * 1024 * 1024],
  ['MAX_PAYLOAD_DEPTH', 1, 1000],
  ['OUTBOX_REPLAY_INTERVAL_MS', 50, 3_600_000],
  ['OUTBOX_REPLAY_BATCH_SIZE', 1, 10_000],
  ['OUTBOX_LEASE_MS', 1000, 3_600_000],
  ['OUTBOX_BACKOFF_BASE_MS', 10, 3_600_000],
  ['OUTBOX_BACKOFF_MAX_MS', 10, 86_400_000],
  ['OUTBOX_MAX_ATTEMPTS', 1, 1_000_000],
  ['OUTBOX_MAX_AGE_MS', 1000, 365 * 86_400_000],
  ['CONSUMER_PREFETCH', 1, 10_000],
  ['CONSUMER_MAX_ATTEMPTS', 1, 100],
  ['CONSUMER_RETRY_BASE_DELAY_MS', 10, 3_600_000],
  ['CONSUMER_RETRY_MAX_DELAY_MS', 10, 86_400_000],
  ['CONSUMER_DELIVERY_LIMIT', 2, 100_000],
  ['IDEMPOTENCY_TTL_SECONDS', 60, 2 * 365 * 86_400],
  ['IDEMPOTENCY_LOCK_TTL_MS', 1000, 3_600_000],
  ['IDEMPOTENCY_COMMIT_BATCH_SIZE', 1, 1000],
  ['IDEMPOTENCY_COMMIT_FLUSH_MS', 0, 100],
  ['SHUTDOWN_TIMEOUT_MS', 0, 600_000],
  ['RATE_LIMIT_PER_MINUTE', 0, 10_000_000],
];

/** Values that keep the consistency rules (settings-consistency.ts) satisfied while one bound is probed. */
const CROSS_FIELD_SAFE: Record<string, NodeJS.ProcessEnv> = {
  PUBLISH_CONFIRM_TIMEOUT_MS: { OUTBOX_LEASE_MS: '3600000' },
  REDIS_COMMAND_TIMEOUT_MS: { OUTBOX_LEASE_MS: '3600000', IDEMPOTENCY_LOCK_TTL_MS: '240000' },
  PUBLISH_MAX_IN_FLIGHT: { OUTBOX_REPLAY_BATCH_SIZE: '1' },
  REDIS_MIN_REPLICA_ACKS: { REDIS_REPLICA_ACK_TIMEOUT_MS: '10' },
  PUBLISH_MAX_IN_FLIGHT_BYTES: { MAX_BODY_BYTES: '1024' },
  RABBITMQ_MAX_MESSAGE_BYTES: { MAX_BODY_BYTES: '1024' },
  MAX_BODY_BYTES: { RABBITMQ_MAX_MESSAGE_BYTES: String(32 * 1024 * 1024) },
  OUTBOX_REPLAY_BATCH_SIZE: { PUBLISH_MAX_IN_FLIGHT: '10000' },
  OUTBOX_LEASE_MS: { PUBLISH_CONFIRM_TIMEOUT_MS: '500', REDIS_COMMAND_TIMEOUT_MS: '250' },
  OUTBOX_BACKOFF_BASE_MS: { OUTBOX_BACKOFF_MAX_MS: '86400000' },
  OUTBOX_BACKOFF_MAX_MS: { OUTBOX_BACKOFF_BASE_MS: '10' },
  OUTBOX_MAX_AGE_MS: { IDEMPOTENCY_TTL_SECONDS: String(2 * 365 * 86_400) },
  CONSUMER_RETRY_BASE_DELAY_MS: { CONSUMER_RETRY_MAX_DELAY_MS: '86400000' },
  CONSUMER_RETRY_MAX_DELAY_MS: { CONSUMER_RETRY_BASE_DELAY_MS: '10' },
  CONSUMER_TIMEOUT_MS: { IDEMPOTENCY_LOCK_TTL_MS: '4000' },
  IDEMPOTENCY_TTL_SECONDS: { OUTBOX_MAX_AGE_MS: '1000', OUTBOX_BACKOFF_MAX_MS: '1000' },
  IDEMPOTENCY_LOCK_TTL_MS: { REDIS_COMMAND_TIMEOUT_MS: '250', CONSUMER_TIMEOUT_MS: '7200000' },
};

describe('loadMessagingSettings', () => {
  it('returns the documented defaults for an empty environment', () => {
    const settings = loadMessagingSettings({});
    expect(settings).toEqual({
      rabbitmqUrls: ['amqp://guest:guest@localhost:5672'],
      redisUrl: 'redis://localhost:6379',
      producerPort: 3000,
      consumerPort: 3001,
      logLevel: 'info',
      names: {
        exchange: 'messaging.events',
        queue: 'messaging.consumer',
        deadLetterQueue: 'messaging.consumer.dlq',
        deadLetterExchange: 'messaging.dead-letter',
        redisKeyPrefix: 'messaging',
        processedStream: 'messaging:processed',
      },
      publishing: {
        confirmTimeoutMs: 2000,
        maxBodyBytes: 262_144,
        maxInFlight: 1000,
        maxInFlightBytes: 64 * 1024 * 1024,
        brokerMaxMessageBytes: 16 * 1024 * 1024,
        maxPayloadDepth: 64,
        maxMessageBytes: 16 * 1024 * 1024,
      },
      redis: { commandTimeoutMs: 1000, minReplicaAcks: 0, replicaAckTimeoutMs: 1000 },
      outbox: {
        replayIntervalMs: 1000,
        replayBatchSize: 500,
        leaseMs: 30_000,
        backoffBaseMs: 500,
        backoffMaxMs: 60_000,
        maxAttempts: 50,
        maxAgeMs: 86_400_000,
      },
      consumer: {
        prefetch: 50,
        maxAttempts: 5,
        retryBaseDelayMs: 1000,
        retryMaxDelayMs: 60_000,
        deliveryLimit: 100,
        brokerConsumerTimeoutMs: 1_800_000,
      },
      idempotency: { ttlSeconds: 7 * 86_400, lockTtlMs: 30_000, commitBatch: { maxSize: 100, flushMs: 0 } },
      shutdownTimeoutMs: 10_000,
      security: { apiKeys: [], rateLimitPerMinute: 0 },
      console: { peerUrl: undefined },
    });
  });

  it('treats empty strings as unset and ignores unrelated variables', () => {
    const settings = loadMessagingSettings({ PRODUCER_PORT: '', REDIS_URL: '', HOME: '/root', PATH: '/bin' });
    expect(settings.producerPort).toBe(3000);
    expect(settings.redisUrl).toBe('redis://localhost:6379');
  });

  it('reads process.env when no environment is passed', () => {
    const saved = process.env.CONSUMER_PREFETCH;
    process.env.CONSUMER_PREFETCH = '7';
    try {
      expect(loadMessagingSettings().consumer.prefetch).toBe(7);
    } finally {
      if (saved === undefined) delete process.env.CONSUMER_PREFETCH;
      else process.env.CONSUMER_PREFETCH = saved;
    }
  });

  it('maps every variable onto the settings', () => {
    const settings = loadMessagingSettings({
      RABBITMQ_URL: 'amqps://u:p@rabbit-1:5671/vh',
      REDIS_URL: 'rediss://:pw@redis:6380/3',
      PRODUCER_PORT: '8080',
      CONSUMER_PORT: '8081',
      LOG_LEVEL: 'debug',
      MESSAGING_EXCHANGE: 'ex',
      MESSAGING_QUEUE: 'q',
      MESSAGING_DLQ: 'q.dlq',
      MESSAGING_DEAD_LETTER_EXCHANGE: 'dlx',
      REDIS_KEY_PREFIX: 'app:1',
      PROCESSED_STREAM: 'app:processed',
      PUBLISH_CONFIRM_TIMEOUT_MS: '100',
      REDIS_COMMAND_TIMEOUT_MS: '200',
      MAX_BODY_BYTES: '2048',
      MAX_PAYLOAD_DEPTH: '10',
      OUTBOX_REPLAY_INTERVAL_MS: '300',
      OUTBOX_REPLAY_BATCH_SIZE: '10',
      OUTBOX_LEASE_MS: '5000',
      OUTBOX_BACKOFF_BASE_MS: '20',
      OUTBOX_BACKOFF_MAX_MS: '20',
      OUTBOX_MAX_ATTEMPTS: '3',
      OUTBOX_MAX_AGE_MS: '60000',
      CONSUMER_PREFETCH: '4',
      CONSUMER_MAX_ATTEMPTS: '6',
      CONSUMER_RETRY_BASE_DELAY_MS: '15',
      CONSUMER_RETRY_MAX_DELAY_MS: '150',
      CONSUMER_DELIVERY_LIMIT: '9',
      IDEMPOTENCY_TTL_SECONDS: '120',
      IDEMPOTENCY_LOCK_TTL_MS: '2000',
      SHUTDOWN_TIMEOUT_MS: '0',
      API_KEYS: 'aaaaaaaaaaaaaaaa',
      RATE_LIMIT_PER_MINUTE: '60',
      CONSOLE_PEER_URL: 'http://consumer:3001/',
    });
    expect(settings).toEqual({
      rabbitmqUrls: ['amqps://u:p@rabbit-1:5671/vh'],
      redisUrl: 'rediss://:pw@redis:6380/3',
      producerPort: 8080,
      consumerPort: 8081,
      logLevel: 'debug',
      names: {
        exchange: 'ex',
        queue: 'q',
        deadLetterQueue: 'q.dlq',
        deadLetterExchange: 'dlx',
        redisKeyPrefix: 'app:1',
        processedStream: 'app:processed',
      },
      publishing: {
        confirmTimeoutMs: 100,
        maxBodyBytes: 2048,
        maxInFlight: 1000,
        maxInFlightBytes: 64 * 1024 * 1024,
        brokerMaxMessageBytes: 16 * 1024 * 1024,
        maxPayloadDepth: 10,
        maxMessageBytes: 16 * 1024 * 1024,
      },
      redis: { commandTimeoutMs: 200, minReplicaAcks: 0, replicaAckTimeoutMs: 1000 },
      outbox: {
        replayIntervalMs: 300,
        replayBatchSize: 10,
        leaseMs: 5000,
        backoffBaseMs: 20,
        backoffMaxMs: 20,
        maxAttempts: 3,
        maxAgeMs: 60_000,
      },
      consumer: {
        prefetch: 4,
        maxAttempts: 6,
        retryBaseDelayMs: 15,
        retryMaxDelayMs: 150,
        deliveryLimit: 9,
        brokerConsumerTimeoutMs: 1_800_000,
      },
      idempotency: { ttlSeconds: 120, lockTtlMs: 2000, commitBatch: { maxSize: 100, flushMs: 0 } },
      shutdownTimeoutMs: 0,
      security: { apiKeys: ['aaaaaaaaaaaaaaaa'], rateLimitPerMinute: 60 },
      console: { peerUrl: 'http://consumer:3001' },
    });
  });

  it.each(['consumer:3001', 'ftp://consumer', 'http://consumer:3001/metrics', 'http://'])('refuses CONSOLE_PEER_URL=%s', (url) => {
    expect(() => loadMessagingSettings({ CONSOLE_PEER_URL: url })).toThrow(/CONSOLE_PEER_URL/);
  });

  it('covers every numeric variable of the schema in this table', () => {
    const numericInSchema = Object.keys(messagingEnvSchema.shape).filter(
      (key) =>
        !['RABBITMQ_URL', 'REDIS_URL', 'LOG_LEVEL', 'API_KEYS', 'CONSOLE_PEER_URL'].includes(key) &&
        !key.startsWith('MESSAGING_') &&
        !['REDIS_KEY_PREFIX', 'PROCESSED_STREAM'].includes(key),
    );
    expect(NUMERIC.map(([name]) => name).sort()).toEqual(numericInSchema.sort());
  });

  describe.each(NUMERIC)('%s (%d..%d)', (variable, min, max) => {
    const extra = CROSS_FIELD_SAFE[variable] ?? {};

    it('accepts its bounds', () => {
      expect(() => loadMessagingSettings({ ...extra, [variable]: String(min) })).not.toThrow();
      expect(() => loadMessagingSettings({ ...extra, [variable]: String(max) })).not.toThrow();
    });

    it.each(['abc', '12abc', '1.5', 'NaN', 'Infinity', 'true'])('rejects the non-number %p', (value) => {
      const error = expectRejected(variable, value, extra);
      expect(error.message).toBe(`Invalid configuration: ${variable} must be a whole number`);
    });

    it('rejects a value below its minimum', () => {
      expect(expectRejected(variable, String(min - 1), extra).message).toBe(`Invalid configuration: ${variable} must be at least ${min}`);
    });

    it('rejects a value above its maximum', () => {
      expect(expectRejected(variable, String(max + 1), extra).message).toBe(`Invalid configuration: ${variable} must be at most ${max}`);
    });
  });

  describe('RABBITMQ_URL', () => {
    it('accepts a comma-separated list of amqp and amqps URLs, trimmed', () => {
      const settings = loadMessagingSettings({ RABBITMQ_URL: 'amqp://a:b@host-1:5672, amqps://host-2:5671/vhost ,amqp://host-3' });
      expect(settings.rabbitmqUrls).toEqual(['amqp://a:b@host-1:5672', 'amqps://host-2:5671/vhost', 'amqp://host-3']);
    });

    it.each([
      'http://localhost:5672',
      'https://localhost',
      'redis://localhost:6379',
      'localhost:5672',
      'amqp://',
      'amqp://host one',
      'amqp://a,http://b',
      'amqp://a,',
      ',amqp://a',
      'amqp://:5672',
      'amqp://user:pa#ss@rabbit:5672',
      'amqps://user:pa?ss@rabbit:5671',
      'amqp://rabbit-1,amqp://user:pa/ss@rabbit-2',
      'amqp://user:12/ss@rabbit:5672/vh',
    ])('rejects %p', (value) => {
      const error = expectRejected('RABBITMQ_URL', value);
      expect(error.message).toContain('amqp://');
    });
  });

  describe('REDIS_URL', () => {
    it.each(['redis://localhost:6379', 'rediss://user:pw@redis.example:6380/2', 'rediss://:p%23w%2Fd@127.0.0.1:6380/3'])(
      'accepts %p',
      (value) => {
        expect(loadMessagingSettings({ REDIS_URL: value }).redisUrl).toBe(value);
      },
    );

    it.each([
      'http://localhost:6379',
      'amqp://localhost',
      'localhost:6379',
      'redis://',
      'redis://a b',
      'rediss://user:p#w@redis:6380',
      'rediss://user:p?w@redis:6380',
      'rediss://user:p/w@redis:6380',
      'rediss://user:6380/pw@redis:6380/0',
    ])('rejects %p, without echoing it', (value) => {
      const error = expectRejected('REDIS_URL', value);
      expect(error.message).toBe(
        'Invalid configuration: REDIS_URL must be a redis:// or rediss:// URL, or ' +
          'redis+sentinel://[[user]:password@]host:port[,host:port...]/<master-name>[/<db>] (special characters in a password percent-encoded)',
      );
    });

    it('accepts a Sentinel URL and keeps it as given', () => {
      const url = 'redis+sentinel://app:s%2Fcr@s1:26379,s2:26379/primary/2';
      expect(loadMessagingSettings({ REDIS_URL: url }).redisUrl).toBe(url);
    });

    it('refuses a malformed Sentinel URL with the reason, without echoing it', () => {
      const error = expectRejected('REDIS_URL', 'redis+sentinel://:secret@s1:26379');
      expect(error.message).toBe(
        'Invalid configuration: REDIS_URL is not a valid Sentinel URL: a redis+sentinel:// URL must end in /<master-name> or /<master-name>/<db>',
      );
      expect(error.message).not.toContain('secret');
    });
  });

  describe('names', () => {
    it.each([
      'MESSAGING_EXCHANGE',
      'MESSAGING_QUEUE',
      'MESSAGING_DLQ',
      'MESSAGING_DEAD_LETTER_EXCHANGE',
      'REDIS_KEY_PREFIX',
      'PROCESSED_STREAM',
    ])('%s rejects spaces, slashes and over-long names but accepts 200 characters', (variable) => {
      expectRejected(variable, 'has space');
      expectRejected(variable, 'a/b');
      expectRejected(variable, 'x'.repeat(201));
      expect(() => loadMessagingSettings({ [variable]: 'x'.repeat(200) })).not.toThrow();
    });
  });

  describe('LOG_LEVEL', () => {
    it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])('accepts %p', (level) => {
      expect(loadMessagingSettings({ LOG_LEVEL: level }).logLevel).toBe(level);
    });

    it('rejects an unknown level', () => {
      expectRejected('LOG_LEVEL', 'verbose');
      expectRejected('LOG_LEVEL', 'INFO');
    });
  });

  describe('API_KEYS', () => {
    const key1 = 'k1-0123456789abcdef';
    const key2 = 'k2-0123456789abcdef';

    it('splits, trims and drops empty entries', () => {
      expect(loadMessagingSettings({ API_KEYS: ` ${key1} ,,${key2}, ` }).security.apiKeys).toEqual([key1, key2]);
    });

    it('accepts a key of exactly 16 characters', () => {
      expect(loadMessagingSettings({ API_KEYS: 'x'.repeat(16) }).security.apiKeys).toEqual(['x'.repeat(16)]);
    });

    it('rejects any key shorter than 16 characters', () => {
      const error = expectRejected('API_KEYS', `${key1},${'x'.repeat(15)}`);
      expect(error.message).toBe('Invalid configuration: API_KEYS each key must be at least 16 characters');
    });

    it('yields no keys for only separators', () => {
      expect(loadMessagingSettings({ API_KEYS: ' , ,' }).security.apiKeys).toEqual([]);
    });
  });

  it('InvalidConfigurationError has its name and variable', () => {
    const error = new InvalidConfigurationError('X', 'is bad');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('InvalidConfigurationError');
    expect(error.variable).toBe('X');
    expect(error.message).toBe('Invalid configuration: X is bad');
  });
});
