import { randomUUID } from 'node:crypto';
import type { ChannelModel, GetMessage } from 'amqplib';
import { startApp, stopAll, waitForReady, type AppProcess } from '../support/app-process';
import { FaultProxy } from '../support/fault-proxy';
import { queueState } from '../support/queue-state';
import { postMessage } from '../support/http';
import { assertExactlyOnce, processedCounts } from '../support/processed';
import { queueInfo } from '../support/rabbitmqctl';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import {
  EXCHANGE,
  QUEUE,
  STREAM,
  PROCESSED,
  metric,
  waitForProcessed,
  consumedTotal,
  waitForSettled,
  waitForConsumers,
  expectAccepted,
} from './happy-path-helpers';

/**
 * The message as the contract puts it on the wire, the consumer's acknowledgement only after the work,
 * and fair sharing between two consumers: real processes on the real RabbitMQ and Redis, each
 * describe in its own vhost and Redis database.
 */

afterAll(async () => {
  await stopAll();
});

describe('the message on the wire', () => {
  let env: TestEnv;
  let producer: AppProcess;
  let consumer: AppProcess | undefined;
  let connection: ChannelModel | undefined;

  beforeAll(async () => {
    env = await createTestEnv('happy-wire');
    producer = await startApp('producer', appEnv(env));
    await waitForReady(producer);
  });

  afterAll(async () => {
    await connection?.close().catch(() => undefined);
    await Promise.all([producer?.stop(), consumer?.stop()]);
    await env?.cleanup();
  });

  it('is persistent and carries the contract properties, and is processed once afterwards', async () => {
    const correlationId = `corr-${randomUUID()}`;
    const type = 'invoice.issued';
    const payload = { invoice: 'INV-7', lines: [{ sku: 'a', qty: 2 }] };
    const response = await postMessage(producer.url(''), { type, payload }, { 'X-Correlation-Id': correlationId });
    const id = expectAccepted(response);

    connection = await env.amqp();
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    // No consumer runs here, so the message waits in the queue (at once when published, after a replay when pending).
    const message = await waitFor<GetMessage>(async () => (await channel.get(QUEUE, { noAck: false })) || undefined, {
      timeoutMs: 10_000,
      intervalMs: 100,
      description: `the message in ${QUEUE}`,
    });

    const { properties, fields } = message;
    expect(fields.routingKey).toBe(type);
    expect(fields.exchange).toBe(EXCHANGE);
    expect(properties.deliveryMode).toBe(2);
    expect(properties.messageId).toBe(id);
    expect(properties.type).toBe(type);
    expect(properties.contentType).toBe('application/json');
    expect(properties.correlationId).toBe(correlationId);
    expect(typeof properties.timestamp).toBe('number');

    const body = JSON.parse(message.content.toString('utf8'));
    expect(body).toEqual({ id, type, occurredAt: expect.any(String), payload, schemaVersion: 1 });
    const occurredAtMs = Date.parse(body.occurredAt);
    expect(Number.isNaN(occurredAtMs)).toBe(false);
    expect(Math.abs(occurredAtMs - Date.now())).toBeLessThan(60_000);
    expect(properties.timestamp).toBe(Math.floor(occurredAtMs / 1000));

    // Hand it back, then let a consumer process it: once.
    channel.nack(message, false, true);
    await channel.close();
    consumer = await startApp('consumer', appEnv(env));
    await waitForProcessed(env, [id], 10_000);
    await waitForSettled(env, producer, [consumer]);
    expect(await consumedTotal([consumer])).toBe(1);
    expect(assertExactlyOnce(await processedCounts(env.redis, STREAM), [id])).toEqual({ lost: [], duplicated: [] });
    expect(await env.redis.xlen(STREAM)).toBe(1);
  });
});

describe('manual acknowledgement after the work', () => {
  let env: TestEnv;
  let producer: AppProcess;
  let consumer: AppProcess;
  let redisProxy: FaultProxy;

  beforeAll(async () => {
    env = await createTestEnv('happy-ack');
    redisProxy = await FaultProxy.start(env.redisPort, env.redisHost);
    redisProxy.refuse();
    [producer, consumer] = await Promise.all([
      startApp('producer', appEnv(env)),
      startApp('consumer', appEnv(env, { redisPort: redisProxy.port })),
    ]);
    await waitForReady(producer);
  });

  afterAll(async () => {
    redisProxy?.accept();
    await Promise.all([producer?.stop(), consumer?.stop()]);
    await redisProxy?.stop();
    await env?.cleanup();
  });

  it('holds deliveries unacknowledged while the work cannot be done, and acknowledges them once it is', async () => {
    // The consumer must be subscribed, so that "unacknowledged" below means "delivered, not acked".
    await waitForConsumers(env, 1);

    const responses = await Promise.all(
      Array.from({ length: 5 }, (_, i) => postMessage(producer.url(''), { type: 'ack.held', payload: { i } })),
    );
    const ids = responses.map(expectAccepted);

    // Delivered to the consumer, whose handler cannot commit its effect to Redis: held, not acked.
    // (rabbitmqctl's counts of a quorum queue are statistics a few seconds old, hence the long wait.)
    await waitFor(
      async () => {
        const row = await queueInfo(env.vhost, QUEUE, 'messages_unacknowledged', 'messages_ready');
        return row?.messages_unacknowledged === 5 && row.messages_ready === 0;
      },
      { timeoutMs: 15_000, intervalMs: 200, description: '5 unacknowledged deliveries (rabbitmqctl list_queues)' },
    );
    await waitFor(() => Promise.resolve(consumer.output().includes('holding deliveries')), {
      timeoutMs: 10_000,
      description: 'the consumer to report that it holds a delivery while Redis does not answer',
    });
    expect(redisProxy.connections).toBe(0);
    expect(await env.redis.xlen(STREAM)).toBe(0);
    expect(await queueState(env, QUEUE)).toEqual({ ready: 0, consumers: 1 });
    expect(await metric(consumer, PROCESSED)).toBe(0);

    redisProxy.accept();
    await waitForProcessed(env, ids, 15_000);
    await waitFor(async () => (await metric(consumer, PROCESSED)) === 5, { timeoutMs: 5000, description: '5 processed deliveries' });
    // Acknowledged: once the consumer is gone, an unacknowledged delivery would be back in the queue.
    const code = await consumer.stop();
    // A graceful stop: Nest re-raises SIGTERM after its shutdown hooks (or the app exits 0).
    expect(code === 0 || (code === null && consumer.exitSignal() === 'SIGTERM')).toBe(true);
    expect(await queueState(env, QUEUE)).toEqual({ ready: 0, consumers: 0 });
    expect(assertExactlyOnce(await processedCounts(env.redis, STREAM), ids)).toEqual({ lost: [], duplicated: [] });
    expect(await env.redis.xlen(STREAM)).toBe(5);
  });
});

describe('fair sharing between two consumers', () => {
  let env: TestEnv;
  let producer: AppProcess;
  let consumers: AppProcess[] = [];

  beforeAll(async () => {
    env = await createTestEnv('happy-fair');
    const consumerEnv = { ...appEnv(env), CONSUMER_PREFETCH: '1' };
    const [started, ...rest] = await Promise.all([
      startApp('producer', appEnv(env)),
      startApp('consumer', consumerEnv),
      startApp('consumer', consumerEnv),
    ]);
    producer = started;
    consumers = rest;
    await Promise.all([waitForReady(producer), ...consumers.map((consumer) => waitForReady(consumer))]);
  });

  afterAll(async () => {
    await Promise.all([producer?.stop(), ...consumers.map((consumer) => consumer.stop())]);
    await env?.cleanup();
  });

  it('shares 200 messages between two consumers with prefetch 1, each processed once', async () => {
    await waitForConsumers(env, 2);

    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => postMessage(producer.url(''), { type: 'load.shared', payload: { i } })),
    );
    const ids = responses.map(expectAccepted);
    expect(new Set(ids).size).toBe(200);

    await waitForProcessed(env, ids, 30_000);
    await waitForSettled(env, producer, consumers);

    const done = await Promise.all(consumers.map((consumer) => metric(consumer, PROCESSED)));
    expect(done[0]).toBeGreaterThan(0);
    expect(done[1]).toBeGreaterThan(0);
    expect(done[0] + done[1]).toBe(200);
    expect(assertExactlyOnce(await processedCounts(env.redis, STREAM), ids)).toEqual({ lost: [], duplicated: [] });
  });
});
