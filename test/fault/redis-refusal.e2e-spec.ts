/**
 * Issue 10, item 2: Redis refusing writes. The built consumer runs against a redis-server of this
 * suite's own while it refuses every write the ways production Redis does (OOM under noeviction,
 * MISCONF, NOREPLICAS, READONLY; see redis-refusals.ts), with a few hundred messages published
 * straight to the exchange during the refusal. Invariant, per scenario: every message exactly once in
 * the processed stream, nothing processed while Redis refused, nothing dead-lettered, no retry
 * counted. The refusal outlasts the guard's hold bound (80 % of CONSUMER_TIMEOUT_MS = 4 s), so
 * deliveries are both held and handed back to the broker (counted, never as an attempt).
 */
import { createEnvelope } from '@app/messaging/envelope';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import type Redis from 'ioredis';
import { startApp, stopAll, type AppProcess } from '../support/app-process';
import { metricValue } from '../support/http';
import { assertExactlyOnce, processedCounts } from '../support/processed';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { startOwnRedis, type OwnRedis } from '../support/own-redis';
import { refusal, refusedCount, type RefusalCode } from './redis-refusals';

const MESSAGES = 300;
/** How long each refusal lasts at least: past the hold bound, so deliveries are handed back too. */
const REFUSAL_MS = 6000;
const CONSUMER_SETTINGS = {
  CONSUMER_TIMEOUT_MS: '5000',
  // The lock must run out before the broker's consumer_timeout (a settings consistency rule).
  IDEMPOTENCY_LOCK_TTL_MS: '4000',
  CONSUMER_PREFETCH: '50',
  // Fast retries: on a guard that counted refusals as handler failures, messages would be dead-lettered within the refusal.
  CONSUMER_MAX_ATTEMPTS: '4',
  CONSUMER_RETRY_BASE_DELAY_MS: '100',
  CONSUMER_RETRY_MAX_DELAY_MS: '400',
};
const STREAM = 'messaging:processed';

describe('consumer while Redis refuses writes (every message once, nothing retried or dead-lettered)', () => {
  let env: TestEnv;
  let server: OwnRedis;
  let newPrimary: OwnRedis;
  let admin: Redis;
  let consumer: AppProcess;
  let connection: ChannelModel;
  let channel: ConfirmChannel;

  const metric = async (sample: string) => metricValue(await (await fetch(consumer.url('/metrics'))).text(), sample);
  const consumed = (result: string) => metric(`messaging_consumed_total{result="${result}"}`);

  /** Ids of the consumer's Redis connections (CLIENT LIST, name "messaging"). */
  const consumerConnections = async () =>
    ((await admin.call('CLIENT', 'LIST', 'TYPE', 'normal')) as string)
      .split('\n')
      .filter((line) => / name=messaging /.test(line))
      .map((line) => /^id=(\d+)/.exec(line)![1]);

  async function publish(count: number): Promise<string[]> {
    const envelopes = Array.from({ length: count }, (_, i) => createEnvelope('refusal.test', { i }));
    for (const envelope of envelopes) {
      channel.publish('messaging.events', envelope.type, Buffer.from(JSON.stringify(envelope)), {
        persistent: true,
        messageId: envelope.id,
        contentType: 'application/json',
      });
    }
    await channel.waitForConfirms();
    return envelopes.map((envelope) => envelope.id);
  }

  beforeAll(async () => {
    env = await createTestEnv('redis-refusal');
    [server, newPrimary] = await Promise.all([
      startOwnRedis({ label: 'redis-refusal' }),
      startOwnRedis({ label: 'redis-refusal-primary', args: ['--repl-diskless-sync-delay', '0'] }),
    ]);
    admin = server.client();
    consumer = await startApp('consumer', { ...appEnv(env), REDIS_URL: server.url(0), ...CONSUMER_SETTINGS }, { ready: true });
    connection = await env.amqp();
    channel = await connection.createConfirmChannel();
  });

  afterAll(async () => {
    await connection?.close().catch(() => undefined);
    await stopAll();
    await Promise.all([server?.stop(), newPrimary?.stop()]);
    await env?.cleanup();
  });

  it.each(['OOM', 'MISCONF', 'NOREPLICAS', 'READONLY'] as RefusalCode[])(
    '%s: held and handed back while refused, then each message once',
    async (code) => {
      const before = {
        retried: await consumed('retried'),
        deadLettered: await consumed('dead_lettered'),
        handedBack: await metric('messaging_guard_handed_back_total{reason="hold_bound"}'),
      };
      const connectionsBefore = await consumerConnections();
      const fault = refusal(code, admin, server, newPrimary);
      await fault.start();
      let ids: string[];
      let failuresSeen: number;
      try {
        const refusedBefore = await refusedCount(admin, code);
        const streamBefore = await admin.xlen(STREAM);
        const started = Date.now();
        ids = await publish(MESSAGES);
        // Counted in scripts: the held deliveries' commits are retried together, several per script (issue 12).
        await waitFor(async () => (await refusedCount(admin, code)) >= refusedBefore + 10 && Date.now() - started >= REFUSAL_MS, {
          timeoutMs: REFUSAL_MS + 10_000,
          description: `Redis to refuse the consumer's writes with ${code} for ${REFUSAL_MS} ms`,
        });
        expect(await admin.xlen(STREAM)).toBe(streamBefore);
        failuresSeen = await metric(`messaging_guard_redis_failures_total{kind="${code}"}`);
      } finally {
        await fault.lift();
      }

      await waitFor(
        async () => {
          const counts = await processedCounts(admin);
          if (!ids.every((id) => counts.has(id))) return false;
          return (await channel.checkQueue('messaging.consumer')).messageCount === 0;
        },
        { timeoutMs: 30_000, intervalMs: 200, description: `${MESSAGES} messages processed after the ${code} refusal` },
      ).catch((error: Error) => process.stderr.write(`${error.message}\n`));
      expect(assertExactlyOnce(await processedCounts(admin), ids)).toEqual({ lost: [], duplicated: [] });
      expect((await channel.checkQueue('messaging.consumer.dlq')).messageCount).toBe(0);
      expect((await consumed('retried')) - before.retried).toBe(0);
      expect((await consumed('dead_lettered')) - before.deadLettered).toBe(0);
      // Checked last, so a guard without these metrics fails on the invariant above first.
      expect(failuresSeen).toBeGreaterThan(0);
      expect(await metric('messaging_guard_handed_back_total{reason="hold_bound"}')).toBeGreaterThan(before.handedBack);
      if (code === 'READONLY') {
        // The client reconnected on READONLY rather than keep asking the replica: none of its old connections is left.
        const connectionsAfter = await consumerConnections();
        expect(connectionsAfter.length).toBeGreaterThan(0);
        expect(connectionsAfter.filter((id) => connectionsBefore.includes(id))).toEqual([]);
      }
    },
  );
});
