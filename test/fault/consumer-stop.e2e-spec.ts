/**
 * Issue 10, item 4: stopping under a backlog. At SIGTERM every consumer is cancelled at once (the
 * broker lists none of ours within a second or two), the deliveries in flight finish and are
 * acknowledged, nothing new starts (what was prefetched and not started is handed back), and the
 * process exits. Invariant, over a 5,000-message backlog: what ran was acknowledged exactly once
 * (processed + still queued = published), and after a restart every message has exactly one effect.
 * Redis is stalled just before the signal and for a few seconds after it, so deliveries are in flight
 * (held by the guard) when the signal comes and cannot finish quickly: the consumers must be gone
 * from the broker while those still run, and those must then finish and be acknowledged.
 */
import { createEnvelope } from '@app/messaging/envelope';
import { loadMessagingSettings } from '@app/messaging/config';
import { assertTopology, buildTopology } from '@app/messaging/topology';
import { startApp, stopAll, type AppProcess } from '../support/app-process';
import { FaultProxy } from '../support/fault-proxy';
import { rabbitmqctlJson } from '../support/rabbitmqctl';
import { queueState } from '../support/queue-state';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { drainAndCount } from './drain';

const BACKLOG = 5000;
const PREFETCH = 50;
const QUEUE = 'messaging.consumer';
const REDIS_STALL_MS = 4000;
/** "Within a second or two": most of it is rabbitmqctl's own start (about 0.7 s a call). */
const UNLISTED_WITHIN_MS = 2500;

describe('stopping under a backlog (what ran is acknowledged once, nothing new starts, no consumer left)', () => {
  let env: TestEnv;
  let consumer: AppProcess;
  let redisProxy: FaultProxy;

  const processed = () => env.redis.xlen('messaging:processed');

  beforeAll(async () => {
    env = await createTestEnv('consumer-stop');
    redisProxy = await FaultProxy.start(env.redisPort, env.redisHost);
  });

  afterAll(async () => {
    await stopAll();
    await redisProxy?.stop();
    await env?.cleanup();
  });

  it(`SIGTERM with a ${BACKLOG} backlog: consumers cancelled at once, in-flight work acknowledged, the rest left queued`, async () => {
    const settings = { ...appEnv(env, { redisPort: redisProxy.port }), CONSUMER_PREFETCH: String(PREFETCH) };
    // The backlog is published before any consumer runs, on the topology the apps declare.
    const envelopes = Array.from({ length: BACKLOG }, (_, i) => createEnvelope('backlog.test', { i }));
    const connection = await env.amqp();
    const channel = await connection.createConfirmChannel();
    await assertTopology(channel, buildTopology(loadMessagingSettings({})));
    for (const envelope of envelopes) {
      channel.publish('messaging.events', envelope.type, Buffer.from(JSON.stringify(envelope)), {
        persistent: true,
        messageId: envelope.id,
      });
    }
    await channel.waitForConfirms();
    await connection.close();
    expect((await queueState(env, QUEUE))?.ready).toBe(BACKLOG);

    consumer = await startApp('consumer', settings);
    await waitFor(async () => (await processed()) >= 200, { timeoutMs: 20_000, intervalMs: 5, description: 'processing to begin' });
    redisProxy.stall();
    // Long enough for the next prefetch window to arrive and be held; nothing can be written meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const atSignal = await processed();
    const stopped = consumer.stop();
    const signalledAt = Date.now();
    const resumed = new Promise<void>((resolve) =>
      setTimeout(() => {
        redisProxy.resume();
        resolve();
      }, REDIS_STALL_MS),
    );

    // rabbitmqctl list_consumers, not the queue's consumer count: a quorum queue keeps counting a
    // cancelled consumer until its unacknowledged deliveries are settled, though it sends it nothing.
    await waitFor(async () => (await rabbitmqctlJson('list_consumers', '-p', env.vhost, 'queue_name', 'consumer_tag')).length === 0, {
      timeoutMs: UNLISTED_WITHIN_MS,
      intervalMs: 20,
      description: 'the broker to list no consumer in the vhost',
    });
    const unlistedAfterMs = Date.now() - signalledAt;
    expect(unlistedAfterMs).toBeLessThan(REDIS_STALL_MS);
    await resumed;
    await stopped;
    expect(consumer.exitSignal()).toBe('SIGTERM');

    // What ran after the signal is what was in flight (held by the stall): at least one, at most the
    // prefetch window. Nothing delivered after the signal started.
    const afterExit = await processed();
    expect(afterExit - atSignal).toBeGreaterThan(0);
    expect(afterExit - atSignal).toBeLessThanOrEqual(PREFETCH);
    expect(afterExit).toBeLessThan(BACKLOG);
    // Every message that ran was acknowledged (it is gone from the queue), every other is queued again.
    await waitFor(async () => (await queueState(env, QUEUE))?.ready === BACKLOG - afterExit, {
      timeoutMs: 10_000,
      description: 'processed + queued = published',
    });
    process.stdout.write(`stop: consumers unlisted after ${unlistedAfterMs} ms; ${afterExit - atSignal} processed after the signal\n`);

    consumer = await startApp('consumer', settings);
    const report = await drainAndCount(
      env,
      envelopes.map((e) => e.id),
      120_000,
    );
    expect(report).toEqual({ lost: [], duplicated: [] });
  });
});
