import { InvalidConfigurationError } from './invalid-configuration.error';
import { loadMessagingSettings } from './load-settings';
import { REPLICA_ACK_MARGIN_MS } from './messaging-settings';
import { CONSISTENCY_RULES, ENVELOPE_OVERHEAD_BYTES, longestDuplicateGapMs } from './settings-consistency';

function refusal(env: NodeJS.ProcessEnv): InvalidConfigurationError {
  try {
    loadMessagingSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidConfigurationError);
    return error as InvalidConfigurationError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

/** A refusal is one line that starts with the variable and names every other variable involved. */
function expectRefused(env: NodeJS.ProcessEnv, variable: string, related: string[]): string {
  const error = refusal(env);
  expect(error.variable).toBe(variable);
  expect(error.related).toEqual(related);
  expect(error.message.startsWith(`Invalid configuration: ${variable} (`)).toBe(true);
  expect(error.message).not.toContain('\n');
  for (const other of related) expect(error.message).toContain(other);
  return error.message;
}

const KIB = 1024;
const MIB = 1024 * KIB;

describe('settings that contradict each other', () => {
  it('the defaults are consistent', () => {
    expect(() => loadMessagingSettings({})).not.toThrow();
  });

  describe('OUTBOX_BACKOFF_MAX_MS vs OUTBOX_BACKOFF_BASE_MS', () => {
    it('refuses a max below the base', () => {
      expect(
        expectRefused({ OUTBOX_BACKOFF_BASE_MS: '1000', OUTBOX_BACKOFF_MAX_MS: '999' }, 'OUTBOX_BACKOFF_MAX_MS', [
          'OUTBOX_BACKOFF_BASE_MS',
        ]),
      ).toBe('Invalid configuration: OUTBOX_BACKOFF_MAX_MS (999) must not be below OUTBOX_BACKOFF_BASE_MS (1000)');
      expect(refusal({ OUTBOX_BACKOFF_BASE_MS: '60001' }).variable).toBe('OUTBOX_BACKOFF_MAX_MS');
    });

    it('accepts them equal', () => {
      expect(loadMessagingSettings({ OUTBOX_BACKOFF_BASE_MS: '1000', OUTBOX_BACKOFF_MAX_MS: '1000' }).outbox.backoffMaxMs).toBe(1000);
    });
  });

  describe('CONSUMER_RETRY_MAX_DELAY_MS vs CONSUMER_RETRY_BASE_DELAY_MS', () => {
    it('refuses a max below the base, accepts them equal', () => {
      expectRefused({ CONSUMER_RETRY_BASE_DELAY_MS: '5000', CONSUMER_RETRY_MAX_DELAY_MS: '4999' }, 'CONSUMER_RETRY_MAX_DELAY_MS', [
        'CONSUMER_RETRY_BASE_DELAY_MS',
      ]);
      expect(() => loadMessagingSettings({ CONSUMER_RETRY_BASE_DELAY_MS: '5000', CONSUMER_RETRY_MAX_DELAY_MS: '5000' })).not.toThrow();
    });
  });

  describe('OUTBOX_LEASE_MS ≥ PUBLISH_CONFIRM_TIMEOUT_MS + 2 * REDIS_COMMAND_TIMEOUT_MS', () => {
    const timeouts = { PUBLISH_CONFIRM_TIMEOUT_MS: '2000', REDIS_COMMAND_TIMEOUT_MS: '1000' };

    it('refuses a lease that can run out while its batch still waits for confirms', () => {
      const message = expectRefused({ ...timeouts, OUTBOX_LEASE_MS: '3999' }, 'OUTBOX_LEASE_MS', [
        'PUBLISH_CONFIRM_TIMEOUT_MS',
        'REDIS_COMMAND_TIMEOUT_MS',
      ]);
      expect(message).toContain('(2000 + 2 * 1000 = 4000)');
      expect(message).toContain('duplicates');
    });

    it('accepts the exact sum, and a confirm timeout raised above the default lease is refused', () => {
      expect(loadMessagingSettings({ ...timeouts, OUTBOX_LEASE_MS: '4000' }).outbox.leaseMs).toBe(4000);
      expect(refusal({ PUBLISH_CONFIRM_TIMEOUT_MS: '29000' }).variable).toBe('OUTBOX_LEASE_MS');
    });
  });

  describe('IDEMPOTENCY_LOCK_TTL_MS ≥ 4 * REDIS_COMMAND_TIMEOUT_MS', () => {
    it('refuses a lock that one timed-out renewal can lose', () => {
      const message = expectRefused({ REDIS_COMMAND_TIMEOUT_MS: '1000', IDEMPOTENCY_LOCK_TTL_MS: '3999' }, 'IDEMPOTENCY_LOCK_TTL_MS', [
        'REDIS_COMMAND_TIMEOUT_MS',
      ]);
      expect(message).toContain('(4 * 1000 = 4000)');
    });

    it('accepts exactly four command timeouts', () => {
      expect(loadMessagingSettings({ REDIS_COMMAND_TIMEOUT_MS: '1000', IDEMPOTENCY_LOCK_TTL_MS: '4000' }).idempotency.lockTtlMs).toBe(4000);
    });
  });

  describe('CONSUMER_TIMEOUT_MS ≥ 5 * REDIS_COMMAND_TIMEOUT_MS', () => {
    it('refuses a consumer timeout a held delivery cannot be handed back within', () => {
      const env = { REDIS_COMMAND_TIMEOUT_MS: '2000', CONSUMER_TIMEOUT_MS: '9999', IDEMPOTENCY_LOCK_TTL_MS: '8000' };
      expect(expectRefused(env, 'CONSUMER_TIMEOUT_MS', ['REDIS_COMMAND_TIMEOUT_MS'])).toContain('(5 * 2000 = 10000)');
    });

    it('accepts exactly five command timeouts', () => {
      const env = { REDIS_COMMAND_TIMEOUT_MS: '2000', CONSUMER_TIMEOUT_MS: '10000', IDEMPOTENCY_LOCK_TTL_MS: '8000' };
      expect(loadMessagingSettings(env).consumer.brokerConsumerTimeoutMs).toBe(10000);
    });
  });

  describe(`REDIS_REPLICA_ACK_TIMEOUT_MS ≤ REDIS_COMMAND_TIMEOUT_MS - ${REPLICA_ACK_MARGIN_MS} when replica acks are required`, () => {
    it('refuses a WAIT that the command timeout would cut', () => {
      const message = expectRefused(
        { REDIS_MIN_REPLICA_ACKS: '1', REDIS_COMMAND_TIMEOUT_MS: '1000', REDIS_REPLICA_ACK_TIMEOUT_MS: '751' },
        'REDIS_REPLICA_ACK_TIMEOUT_MS',
        ['REDIS_COMMAND_TIMEOUT_MS', 'REDIS_MIN_REPLICA_ACKS'],
      );
      expect(message).toContain('(1000 - 250 = 750)');
    });

    it('raises the default command timeout to fit the ack timeout, so REDIS_MIN_REPLICA_ACKS alone starts (the contract sets no other)', () => {
      expect(loadMessagingSettings({ REDIS_MIN_REPLICA_ACKS: '1' }).redis).toEqual({
        commandTimeoutMs: 1000 + REPLICA_ACK_MARGIN_MS,
        minReplicaAcks: 1,
        replicaAckTimeoutMs: 1000,
      });
      expect(loadMessagingSettings({ REDIS_MIN_REPLICA_ACKS: '2', REDIS_REPLICA_ACK_TIMEOUT_MS: '500' }).redis.commandTimeoutMs).toBe(1000);
      expect(loadMessagingSettings({ REDIS_REPLICA_ACK_TIMEOUT_MS: '5000' }).redis.commandTimeoutMs).toBe(1000);
    });

    it('accepts the margin exactly, and any ack timeout when no replica ack is required', () => {
      const env = { REDIS_MIN_REPLICA_ACKS: '1', REDIS_COMMAND_TIMEOUT_MS: '1000', REDIS_REPLICA_ACK_TIMEOUT_MS: '750' };
      expect(loadMessagingSettings(env).redis.replicaAckTimeoutMs).toBe(750);
      expect(
        loadMessagingSettings({ ...env, REDIS_MIN_REPLICA_ACKS: '0', REDIS_REPLICA_ACK_TIMEOUT_MS: '5000' }).redis.minReplicaAcks,
      ).toBe(0);
    });
  });

  describe('IDEMPOTENCY_LOCK_TTL_MS < CONSUMER_TIMEOUT_MS', () => {
    it('refuses a lock that outlives the broker consumer_timeout', () => {
      const message = expectRefused({ CONSUMER_TIMEOUT_MS: '10000', IDEMPOTENCY_LOCK_TTL_MS: '10000' }, 'IDEMPOTENCY_LOCK_TTL_MS', [
        'CONSUMER_TIMEOUT_MS',
      ]);
      expect(message).toContain('CONSUMER_TIMEOUT_MS (10000)');
      // The default lock (30 s) with a consumer_timeout of a few seconds, as a fault suite might set it.
      expect(refusal({ CONSUMER_TIMEOUT_MS: '5000' }).variable).toBe('IDEMPOTENCY_LOCK_TTL_MS');
    });

    it('accepts a lock just below it', () => {
      expect(() => loadMessagingSettings({ CONSUMER_TIMEOUT_MS: '10000', IDEMPOTENCY_LOCK_TTL_MS: '9999' })).not.toThrow();
    });
  });

  describe(`MAX_BODY_BYTES ≤ RABBITMQ_MAX_MESSAGE_BYTES - ${ENVELOPE_OVERHEAD_BYTES}`, () => {
    it('refuses a body limit that leaves no room for the envelope under the broker limit', () => {
      const message = expectRefused({ RABBITMQ_MAX_MESSAGE_BYTES: String(MIB), MAX_BODY_BYTES: String(MIB) }, 'MAX_BODY_BYTES', [
        'RABBITMQ_MAX_MESSAGE_BYTES',
      ]);
      expect(message).toContain(`(${MIB} - 1024 = ${MIB - 1024})`);
      expect(refusal({ MAX_BODY_BYTES: String(16 * MIB) }).variable).toBe('MAX_BODY_BYTES');
    });

    it('accepts the body limit with exactly the envelope margin', () => {
      expect(() => loadMessagingSettings({ RABBITMQ_MAX_MESSAGE_BYTES: String(MIB), MAX_BODY_BYTES: String(MIB - 1024) })).not.toThrow();
    });
  });

  describe(`PUBLISH_MAX_IN_FLIGHT_BYTES ≥ MAX_BODY_BYTES + ${ENVELOPE_OVERHEAD_BYTES}`, () => {
    it('refuses a confirm window one largest message cannot enter', () => {
      const message = expectRefused({ PUBLISH_MAX_IN_FLIGHT_BYTES: String(256 * KIB) }, 'PUBLISH_MAX_IN_FLIGHT_BYTES', ['MAX_BODY_BYTES']);
      expect(message).toContain(`(${256 * KIB} + 1024 = ${256 * KIB + 1024})`);
    });

    it('accepts a window of exactly one message', () => {
      expect(() =>
        loadMessagingSettings({ MAX_BODY_BYTES: String(100 * KIB), PUBLISH_MAX_IN_FLIGHT_BYTES: String(101 * KIB) }),
      ).not.toThrow();
    });
  });

  describe('OUTBOX_REPLAY_BATCH_SIZE ≤ PUBLISH_MAX_IN_FLIGHT', () => {
    it('refuses a batch larger than the confirm window', () => {
      const message = expectRefused({ PUBLISH_MAX_IN_FLIGHT: '100', OUTBOX_REPLAY_BATCH_SIZE: '101' }, 'OUTBOX_REPLAY_BATCH_SIZE', [
        'PUBLISH_MAX_IN_FLIGHT',
      ]);
      expect(message).toContain('PUBLISH_MAX_IN_FLIGHT (100)');
      expect(refusal({ PUBLISH_MAX_IN_FLIGHT: '499' }).variable).toBe('OUTBOX_REPLAY_BATCH_SIZE');
    });

    it('accepts a batch of the window size', () => {
      expect(() => loadMessagingSettings({ PUBLISH_MAX_IN_FLIGHT: '100', OUTBOX_REPLAY_BATCH_SIZE: '100' })).not.toThrow();
    });
  });

  describe('IDEMPOTENCY_TTL_SECONDS ≥ the longest a duplicate can arrive late', () => {
    const related = [
      'OUTBOX_MAX_AGE_MS',
      'OUTBOX_BACKOFF_MAX_MS',
      'CONSUMER_MAX_ATTEMPTS',
      'CONSUMER_RETRY_BASE_DELAY_MS',
      'CONSUMER_RETRY_MAX_DELAY_MS',
    ];

    it('adds the outbox age limit, one backoff, and every retry delay before the DLQ', () => {
      const settings = loadMessagingSettings({});
      // 1 day + 60 s + (1 + 2 + 4 + 8) s for five attempts.
      expect(longestDuplicateGapMs(settings)).toBe(86_400_000 + 60_000 + 15_000);
      const capped = loadMessagingSettings({
        CONSUMER_MAX_ATTEMPTS: '4',
        CONSUMER_RETRY_BASE_DELAY_MS: '1000',
        CONSUMER_RETRY_MAX_DELAY_MS: '3000',
      });
      expect(longestDuplicateGapMs(capped)).toBe(86_400_000 + 60_000 + 1000 + 2000 + 3000);
      expect(longestDuplicateGapMs(loadMessagingSettings({ CONSUMER_MAX_ATTEMPTS: '1' }))).toBe(86_400_000 + 60_000);
    });

    it('refuses a dedup window shorter than that', () => {
      const message = expectRefused({ IDEMPOTENCY_TTL_SECONDS: '86474' }, 'IDEMPOTENCY_TTL_SECONDS', related);
      expect(message).toContain('must be at least 86475');
      expect(message).toContain('= 86475000 ms');
      expect(refusal({ OUTBOX_MAX_AGE_MS: String(8 * 86_400_000) }).variable).toBe('IDEMPOTENCY_TTL_SECONDS');
    });

    it('counts the retry delays: long retries alone can exceed a short window', () => {
      const env = { OUTBOX_MAX_AGE_MS: '1000', OUTBOX_BACKOFF_MAX_MS: '1000', IDEMPOTENCY_TTL_SECONDS: '3600' };
      expect(() => loadMessagingSettings(env)).not.toThrow();
      expect(refusal({ ...env, CONSUMER_RETRY_BASE_DELAY_MS: '1800000', CONSUMER_RETRY_MAX_DELAY_MS: '1800000' }).variable).toBe(
        'IDEMPOTENCY_TTL_SECONDS',
      );
    });

    it('accepts a window of exactly the gap, rounded up to whole seconds', () => {
      expect(loadMessagingSettings({ IDEMPOTENCY_TTL_SECONDS: '86475' }).idempotency.ttlSeconds).toBe(86_475);
    });
  });

  it('checks the rules in their listed order and reports the first one broken', () => {
    const error = refusal({ OUTBOX_BACKOFF_BASE_MS: '2000', OUTBOX_BACKOFF_MAX_MS: '1000', OUTBOX_LEASE_MS: '1000' });
    expect(error.variable).toBe(CONSISTENCY_RULES[0].variable);
  });

  it('derives the largest encoded message publish() accepts: the smaller of the broker limit and the confirm window', () => {
    expect(loadMessagingSettings({}).publishing.maxMessageBytes).toBe(16 * MIB);
    expect(loadMessagingSettings({ PUBLISH_MAX_IN_FLIGHT_BYTES: String(MIB) }).publishing.maxMessageBytes).toBe(MIB);
    expect(loadMessagingSettings({ RABBITMQ_MAX_MESSAGE_BYTES: String(2 * MIB) }).publishing.maxMessageBytes).toBe(2 * MIB);
  });
});

/**
 * The environments the suites under test/ and bench/ and the compose files start the apps with
 * (copied from them: each suite's base merged with its per-test extras), so a new rule cannot refuse
 * one unnoticed.
 */
const SUITE_ENVIRONMENTS: [string, NodeJS.ProcessEnv][] = [
  [
    'operations: FAST_REPLAY',
    { OUTBOX_REPLAY_INTERVAL_MS: '200', OUTBOX_BACKOFF_BASE_MS: '100', OUTBOX_BACKOFF_MAX_MS: '500', PUBLISH_CONFIRM_TIMEOUT_MS: '1000' },
  ],
  [
    'operations: parking',
    {
      PUBLISH_CONFIRM_TIMEOUT_MS: '1000',
      OUTBOX_MAX_ATTEMPTS: '2',
      OUTBOX_REPLAY_INTERVAL_MS: '100',
      OUTBOX_BACKOFF_BASE_MS: '50',
      OUTBOX_BACKOFF_MAX_MS: '100',
    },
  ],
  ['operations: DLQ consumer', { SHUTDOWN_TIMEOUT_MS: '3000', CONSUMER_MAX_ATTEMPTS: '2', CONSUMER_RETRY_BASE_DELAY_MS: '50' }],
  ['operations: producer stops', { PUBLISH_CONFIRM_TIMEOUT_MS: '1000', SHUTDOWN_TIMEOUT_MS: '1000' }],
  ['operations: producer second signal', { PUBLISH_CONFIRM_TIMEOUT_MS: '1000', SHUTDOWN_TIMEOUT_MS: '60000' }],
  ['client-proxy', { OUTBOX_REPLAY_INTERVAL_MS: '100', OUTBOX_BACKOFF_BASE_MS: '50', OUTBOX_BACKOFF_MAX_MS: '200' }],
  ['connection-urls', { OUTBOX_REPLAY_INTERVAL_MS: '200', OUTBOX_BACKOFF_BASE_MS: '100' }],
  ['happy-path: prefetch 1', { CONSUMER_PREFETCH: '1' }],
  [
    'publisher-faults',
    {
      OUTBOX_REPLAY_INTERVAL_MS: '200',
      OUTBOX_BACKOFF_BASE_MS: '100',
      OUTBOX_BACKOFF_MAX_MS: '1000',
      OUTBOX_LEASE_MS: '3000',
      PUBLISH_CONFIRM_TIMEOUT_MS: '1000',
      OUTBOX_REPLAY_BATCH_SIZE: '25',
    },
  ],
  [
    'consumer-faults',
    { CONSUMER_MAX_ATTEMPTS: '4', CONSUMER_RETRY_BASE_DELAY_MS: '100', CONSUMER_RETRY_MAX_DELAY_MS: '400', CONSUMER_PREFETCH: '20' },
  ],
  [
    'chaos',
    {
      PUBLISH_CONFIRM_TIMEOUT_MS: '1000',
      OUTBOX_REPLAY_INTERVAL_MS: '250',
      OUTBOX_LEASE_MS: '5000',
      OUTBOX_BACKOFF_BASE_MS: '100',
      OUTBOX_BACKOFF_MAX_MS: '2000',
      CONSUMER_RETRY_BASE_DELAY_MS: '200',
      CONSUMER_RETRY_MAX_DELAY_MS: '2000',
      SHUTDOWN_TIMEOUT_MS: '5000',
    },
  ],
  ['bench: consumer', { CONSUMER_PREFETCH: '50' }],
  ['docker-compose.ha.yml', { REDIS_MIN_REPLICA_ACKS: '1', REDIS_REPLICA_ACK_TIMEOUT_MS: '500' }],
  ['bench: drain', { OUTBOX_REPLAY_INTERVAL_MS: '100' }],
];

describe.each(SUITE_ENVIRONMENTS)('the environment of %s', (_, env) => {
  it('loads', () => {
    expect(() => loadMessagingSettings(env)).not.toThrow();
  });
});
