/**
 * Issue 4: each message's effect happens exactly once. Invariant checked by every test, counted over
 * many messages: every accepted id has exactly one entry in `messaging:processed`, whether it was
 * delivered many times, its consumer was killed, its handler failed and was retried, or Redis was cut;
 * a message that can never succeed ends in the DLQ with the reason, and has no effect.
 */
import { randomUUID } from 'node:crypto';
import { createEnvelope } from '@app/messaging/envelope';
import type { Channel, ChannelModel, GetMessage } from 'amqplib';
import { startApp, stopAll, type AppProcess } from '../support/app-process';
import { FaultProxy } from '../support/fault-proxy';
import { metricValue, postMessage } from '../support/http';
import { processedCounts } from '../support/processed';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { drainAndCount } from './drain';
import { sendLoad } from './load';

const CONSUMER_SETTINGS = {
  CONSUMER_SIMULATED_FAILURES: 'on',
  CONSUMER_MAX_ATTEMPTS: '4',
  CONSUMER_RETRY_BASE_DELAY_MS: '100',
  CONSUMER_RETRY_MAX_DELAY_MS: '400',
  CONSUMER_PREFETCH: '20',
};

describe('consumer under faults (every message has exactly one effect)', () => {
  let env: TestEnv;
  let redisProxy: FaultProxy;
  let producer: AppProcess;
  let consumers: AppProcess[] = [];
  let connection: ChannelModel;
  let channel: Channel;
  const deadLetters = new Map<string, GetMessage>();

  const startConsumer = () =>
    startApp('consumer', { ...appEnv(env, { redisPort: redisProxy.port }), ...CONSUMER_SETTINGS }, { ready: true });

  const publishRaw = (body: Buffer, messageId?: string) =>
    channel.publish('messaging.events', 'raw.test', body, { persistent: true, messageId, contentType: 'application/json' });

  /** Reads the DLQ into `deadLetters` (by message id) until the wanted ids are all there. */
  const waitForDeadLetters = (ids: string[]) =>
    waitFor(
      async () => {
        for (
          let message = await channel.get('messaging.consumer.dlq', { noAck: true });
          message;
          message = await channel.get('messaging.consumer.dlq', { noAck: true })
        ) {
          deadLetters.set(String(message.properties.messageId), message);
        }
        return ids.every((id) => deadLetters.has(id));
      },
      { timeoutMs: 30_000, intervalMs: 100, description: `${ids.length} messages in the DLQ` },
    );

  const metric = async (app: AppProcess, sample: string) => metricValue(await (await fetch(app.url('/metrics'))).text(), sample);

  /** A counter summed over every running consumer. */
  const totalMetric = async (line: string) => (await Promise.all(consumers.map((c) => metric(c, line)))).reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    env = await createTestEnv('consumer-faults');
    redisProxy = await FaultProxy.start(env.redisPort, env.redisHost);
    producer = await startApp('producer', { ...appEnv(env), ...CONSUMER_SETTINGS }, { ready: true });
    consumers = [await startConsumer(), await startConsumer()];
    connection = await env.amqp();
    channel = await connection.createConfirmChannel();
  });

  afterEach(() => redisProxy.accept());

  afterAll(async () => {
    await connection?.close().catch(() => undefined);
    await stopAll();
    await redisProxy?.stop();
    await env?.cleanup();
  });

  it('the same id delivered many times, concurrently, to two consumers: one effect', async () => {
    const envelopes = Array.from({ length: 100 }, (_, i) => createEnvelope('dup.test', { i }));
    const copies = envelopes.flatMap((envelope) => Array.from({ length: 5 }, () => envelope));
    copies.sort(() => Math.random() - 0.5);
    for (const envelope of copies) publishRaw(Buffer.from(JSON.stringify(envelope)), envelope.id);
    await (channel as unknown as { waitForConfirms(): Promise<void> }).waitForConfirms();
    const report = await drainAndCount(
      env,
      envelopes.map((e) => e.id),
    );
    expect(report).toEqual({ lost: [], duplicated: [] });
    const duplicates = await totalMetric('messaging_consumed_total{result="duplicate"}');
    expect(duplicates).toBeGreaterThanOrEqual(400);
  });

  it('a consumer killed (SIGKILL) mid-batch and restarted: nothing lost, nothing twice', async () => {
    const before = await env.redis.xlen('messaging:processed');
    const load = await sendLoad({ count: 600, concurrency: 20, baseUrl: () => producer.url('') });
    expect(load.accepted.size).toBe(600);
    await waitFor(async () => (await env.redis.xlen('messaging:processed')) > before + 50, {
      timeoutMs: 20_000,
      intervalMs: 5,
      description: 'processing to begin',
    });
    await consumers[0].kill();
    consumers[0] = await startConsumer();
    const report = await drainAndCount(env, load.accepted.keys());
    expect(report).toEqual({ lost: [], duplicated: [] });
  });

  it('a handler that fails twice then succeeds: retried through the delay queues, one effect', async () => {
    const retriedBefore = await totalMetric('messaging_consumed_total{result="retried"}');
    const load = await sendLoad({
      count: 30,
      concurrency: 5,
      baseUrl: () => producer.url(''),
      payload: (i) => ({ i, simulateFailure: { attempts: 2 } }),
    });
    expect(load.accepted.size).toBe(30);
    const report = await drainAndCount(env, load.accepted.keys());
    expect(report).toEqual({ lost: [], duplicated: [] });
    const retried = await totalMetric('messaging_consumed_total{result="retried"}');
    expect(retried - retriedBefore).toBeGreaterThanOrEqual(60);
  });

  it('a handler that always fails: dead-lettered after the configured attempts, with the reason, and no effect', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await postMessage(producer.url(''), { type: 'always.fails', payload: { simulateFailure: { always: true } } });
      expect(response.status).toBe(202);
      ids.push(response.body.id);
    }
    await waitForDeadLetters(ids);
    for (const id of ids) {
      const headers = deadLetters.get(id)!.properties.headers ?? {};
      expect(headers['x-failure-kind']).toBe('exhausted');
      expect(String(headers['x-failure-reason'])).toContain('SimulatedFailure');
      expect(headers['x-failed-attempts']).toBe(4);
      expect(headers['x-failed-queue']).toBe('messaging.consumer');
      expect(Date.parse(String(headers['x-failed-at']))).not.toBeNaN();
      expect(JSON.parse(deadLetters.get(id)!.content.toString()).id).toBe(id);
    }
    const counts = await processedCounts(env.redis);
    expect(ids.filter((id) => counts.has(id))).toEqual([]);
  });

  it('poison published straight to the exchange goes to the DLQ at once; the consumers stay up', async () => {
    const good = createEnvelope('good.test', {});
    const poison: [string, Buffer][] = [
      [randomUUID(), Buffer.from('this is not json')],
      [randomUUID(), Buffer.from(JSON.stringify({ type: 'no.id', payload: {} }))],
      [randomUUID(), Buffer.from(JSON.stringify({ ...createEnvelope('bad.version', {}), schemaVersion: 99 }))],
      [randomUUID(), Buffer.from(JSON.stringify({ ...createEnvelope('bad.payload', {}), payload: [1, 2] }))],
      [randomUUID(), Buffer.from('[]')],
    ];
    for (const [id, body] of poison) publishRaw(body, id);
    publishRaw(Buffer.from(JSON.stringify(good)), good.id);
    await waitForDeadLetters(poison.map(([id]) => id));
    for (const [id] of poison) {
      const headers = deadLetters.get(id)!.properties.headers ?? {};
      expect(headers['x-failure-kind']).toBe('poison');
      expect(String(headers['x-failure-reason'])).toMatch(/^invalid message: /);
    }
    expect(String(deadLetters.get(poison[0][0])!.properties.headers?.['x-failure-reason'])).toContain('not valid JSON');
    expect(String(deadLetters.get(poison[2][0])!.properties.headers?.['x-failure-reason'])).toContain('schema version');
    const report = await drainAndCount(env, [good.id]);
    expect(report).toEqual({ lost: [], duplicated: [] });
    for (const consumer of consumers) expect((await fetch(consumer.url('/health'))).status).toBe(200);
  });

  it('Redis cut and refused under load with two consumers: deliveries wait, then each message once', async () => {
    const load = await sendLoad({
      count: 500,
      concurrency: 10,
      ratePerSecond: 150,
      baseUrl: () => producer.url(''),
      onProgress: (sent) => {
        if (sent === 100) redisProxy.refuse();
        if (sent === 300) redisProxy.accept();
        if (sent === 400) redisProxy.cut();
      },
    });
    expect(load.accepted.size).toBe(500);
    const report = await drainAndCount(env, load.accepted.keys());
    expect(report).toEqual({ lost: [], duplicated: [] });
  });

  it('a consumer started while the broker is refused answers /health 503, then consumes once the broker is back', async () => {
    await Promise.all(consumers.map((consumer) => consumer.kill()));
    const amqpProxy = await FaultProxy.start(env.amqpPort, env.amqpHost);
    try {
      amqpProxy.refuse();
      const consumer = await startApp('consumer', { ...appEnv(env, { amqpPort: amqpProxy.port }), ...CONSUMER_SETTINGS });
      consumers = [consumer];
      const health = await fetch(consumer.url('/health'));
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ details: { processing: { broker: expect.stringMatching(/^down/) } } });

      const load = await sendLoad({ count: 100, concurrency: 10, baseUrl: () => producer.url('') });
      expect(load.accepted.size).toBe(100);
      amqpProxy.accept();
      const report = await drainAndCount(env, load.accepted.keys());
      expect(report).toEqual({ lost: [], duplicated: [] });
      expect((await fetch(consumer.url('/health'))).status).toBe(200);
    } finally {
      await amqpProxy.stop();
    }
  });
});
