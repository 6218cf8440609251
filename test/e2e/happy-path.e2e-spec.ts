import { randomUUID } from 'node:crypto';
import { DLQ_DELIVERY_LIMIT } from '@app/messaging/topology';
import type { ChannelModel, GetMessage } from 'amqplib';
import { startApp, stopAll, waitForReady, type AppProcess } from '../support/app-process';
import { FaultProxy } from '../support/fault-proxy';
import { queueState } from '../support/queue-state';
import { getUrl, metricValue, postMessage, type HttpResult } from '../support/http';
import { assertExactlyOnce, processedCounts, processedEntries } from '../support/processed';
import { argumentsOf, listQueues, queueInfo, rabbitmqctlJson } from '../support/rabbitmqctl';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';

/**
 * The system working as the contract says when nothing goes wrong: real producer and consumer
 * processes on the real RabbitMQ and Redis, each describe in its own vhost and Redis database.
 */

const EXCHANGE = 'messaging.events';
const QUEUE = 'messaging.consumer';
const DLQ = 'messaging.consumer.dlq';
const STREAM = 'messaging:processed';
const PROCESSED = 'messaging_consumed_total{result="processed"}';
const DUPLICATE = 'messaging_consumed_total{result="duplicate"}';
const ACCEPTED_PUBLISHED = 'messaging_messages_accepted_total{status="published"}';
const ACCEPTED_PENDING = 'messaging_messages_accepted_total{status="pending"}';

async function metric(app: AppProcess, sample: string): Promise<number> {
  const response = await getUrl(app.url('/metrics'));
  if (response.status !== 200) throw new Error(`GET /metrics of the ${app.kind} answered ${response.status}`);
  return metricValue(String(response.body), sample);
}

/** Waits until every id has an entry in the processed stream; returns the counts at that moment. */
async function waitForProcessed(env: TestEnv, ids: Iterable<string>, timeoutMs = 5000): Promise<Map<string, number>> {
  const wanted = [...ids];
  return waitFor(
    async () => {
      const counts = await processedCounts(env.redis, STREAM);
      return wanted.every((id) => (counts.get(id) ?? 0) > 0) ? counts : undefined;
    },
    { timeoutMs, intervalMs: 50, description: `${wanted.length} message(s) in ${STREAM}` },
  );
}

const CONSUMED = ['processed', 'duplicate', 'retried', 'dead_lettered'].map((result) => `messaging_consumed_total{result="${result}"}`);

/** Every delivery the consumers handled (whatever the result). */
async function consumedTotal(consumers: AppProcess[]): Promise<number> {
  let total = 0;
  for (const consumer of consumers) for (const sample of CONSUMED) total += await metric(consumer, sample);
  return total;
}

/** Every message the producer answered 202 for. */
async function acceptedTotal(producer: AppProcess): Promise<number> {
  return (await metric(producer, ACCEPTED_PUBLISHED)) + (await metric(producer, ACCEPTED_PENDING));
}

/**
 * Waits until the work is settled: no message waits in the queue and the consumers handled at least
 * one delivery per accepted message (so a second copy of a message has been handled too). Uses live
 * sources only (a passive declare and the apps' counters), not rabbitmqctl's delayed statistics.
 */
async function waitForSettled(env: TestEnv, producer: AppProcess, consumers: AppProcess[], timeoutMs = 10_000): Promise<void> {
  await waitFor(
    async () => {
      const state = await queueState(env, QUEUE);
      if (state === undefined || state.ready > 0) return false;
      return (await consumedTotal(consumers)) >= (await acceptedTotal(producer));
    },
    { timeoutMs, intervalMs: 50, description: `${QUEUE} to be drained and every accepted message handled` },
  );
}

/** Waits until `count` consumers are subscribed to the work queue. */
async function waitForConsumers(env: TestEnv, count: number): Promise<void> {
  await waitFor(async () => (await queueState(env, QUEUE))?.consumers === count, {
    timeoutMs: 15_000,
    intervalMs: 50,
    description: `${count} consumer(s) on ${QUEUE}`,
  });
}

function expectAccepted(response: HttpResult): string {
  expect(response.status).toBe(202);
  expect(response.body).toEqual({ id: expect.any(String), status: expect.stringMatching(/^(published|pending)$/) });
  return response.body.id as string;
}

/** Posts with a fixed Idempotency-Key until the producer answers `published` (its confirm channel is open). */
async function warmUp(producer: AppProcess): Promise<string> {
  const key = `warm-up-${randomUUID()}`;
  const response = await waitFor(
    async () => {
      const result = await postMessage(producer.url(''), { type: 'test.warm-up', payload: {} }, { 'Idempotency-Key': key });
      return result.status === 202 && result.body.status === 'published' ? result : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 100, description: 'the producer to confirm a publish' },
  );
  return response.body.id as string;
}

afterAll(async () => {
  await stopAll();
});

describe('happy path: one producer, one consumer', () => {
  let env: TestEnv;
  let producer: AppProcess;
  let consumer: AppProcess;
  let warmUpId: string;

  beforeAll(async () => {
    env = await createTestEnv('happy-path');
    [producer, consumer] = await Promise.all([startApp('producer', appEnv(env)), startApp('consumer', appEnv(env))]);
    await Promise.all([waitForReady(producer), waitForReady(consumer)]);
    await waitForConsumers(env, 1);
    warmUpId = await warmUp(producer);
    await waitForProcessed(env, [warmUpId], 10_000);
    await waitForSettled(env, producer, [consumer]);
  });

  afterAll(async () => {
    await Promise.all([producer?.stop(), consumer?.stop()]);
    await env?.cleanup();
  });

  it('accepts a message with 202 published and processes it exactly once with its type', async () => {
    const type = 'order.created';
    const response = await postMessage(producer.url(''), { type, payload: { orderId: 42 } });
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ id: expect.any(String), status: 'published' });
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const id = response.body.id as string;

    await waitForProcessed(env, [id], 5000);
    const entries = (await processedEntries(env.redis, STREAM)).filter((entry) => entry.id === id);
    expect(entries).toEqual([{ id, type }]);
  });

  it('processes 100 concurrent messages, each exactly once', async () => {
    const before = await metric(consumer, PROCESSED);
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => postMessage(producer.url(''), { type: 'load.concurrent', payload: { i } })),
    );
    const ids = responses.map(expectAccepted);
    expect(new Set(ids).size).toBe(100);

    await waitForProcessed(env, ids, 15_000);
    await waitForSettled(env, producer, [consumer]);
    const result = assertExactlyOnce(await processedCounts(env.redis, STREAM), ids);
    expect(result).toEqual({ lost: [], duplicated: [] });
    expect(await metric(consumer, PROCESSED)).toBe(before + 100);
  });

  it('gives the same id for the same Idempotency-Key and processes it once; different keys give different ids', async () => {
    const key = `order-${randomUUID()}`;
    const duplicatesBefore = await metric(consumer, DUPLICATE);
    const first = await postMessage(producer.url(''), { type: 'order.paid', payload: { attempt: 1 } }, { 'Idempotency-Key': key });
    const second = await postMessage(producer.url(''), { type: 'order.paid', payload: { attempt: 2 } }, { 'Idempotency-Key': key });
    const id = expectAccepted(first);
    expect(expectAccepted(second)).toBe(id);

    await waitForProcessed(env, [id]);
    // The second copy reaches the consumer too; wait until it was recognised as a duplicate.
    await waitFor(async () => (await metric(consumer, DUPLICATE)) >= duplicatesBefore + 1, {
      timeoutMs: 5000,
      description: 'the duplicate delivery to be acknowledged',
    });
    await waitForSettled(env, producer, [consumer]);
    expect((await processedCounts(env.redis, STREAM)).get(id)).toBe(1);

    const other = await postMessage(producer.url(''), { type: 'order.paid', payload: {} }, { 'Idempotency-Key': `${key}-other` });
    const third = await postMessage(producer.url(''), { type: 'order.paid', payload: {} }, { 'Idempotency-Key': `other-${randomUUID()}` });
    const otherId = expectAccepted(other);
    const thirdId = expectAccepted(third);
    expect(new Set([id, otherId, thirdId]).size).toBe(3);
    const counts = await waitForProcessed(env, [otherId, thirdId]);
    expect(assertExactlyOnce(counts, [id, otherId, thirdId])).toEqual({ lost: [], duplicated: [] });
  });

  it('answers every bad request with a 4xx JSON error and publishes nothing for it', async () => {
    // A good message first, processed, so the stream is settled before we measure it.
    const settle = expectAccepted(await postMessage(producer.url(''), { type: 'test.before-bad', payload: {} }));
    await waitForProcessed(env, [settle]);
    await waitForSettled(env, producer, [consumer]);
    const streamBefore = await env.redis.xlen(STREAM);
    const acceptedBefore = await acceptedTotal(producer);
    const consumedBefore = await consumedTotal([consumer]);

    const good = { type: 'order.created', payload: { ok: true } };
    const json = { 'content-type': 'application/json' };
    const cases: { name: string; status: number; body?: unknown; raw?: string; headers?: Record<string, string> }[] = [
      { name: 'invalid JSON', status: 400, raw: '{"type": "order.created", "payload": {', headers: json },
      { name: 'text/plain', status: 415, raw: JSON.stringify(good), headers: { 'content-type': 'text/plain' } },
      { name: 'body over 256 KiB', status: 413, body: { type: 'big', payload: { blob: 'x'.repeat(256 * 1024 + 100) } } },
      { name: 'type with #', status: 400, body: { type: 'order.#', payload: {} } },
      { name: 'type with *', status: 400, body: { type: 'order.*', payload: {} } },
      { name: 'type of 129 characters', status: 400, body: { type: 'a'.repeat(129), payload: {} } },
      { name: 'empty type', status: 400, body: { type: '', payload: {} } },
      { name: 'type not a string', status: 400, body: { type: 42, payload: {} } },
      { name: 'missing type', status: 400, body: { payload: {} } },
      { name: 'payload an array', status: 400, body: { type: 'order.created', payload: [1, 2] } },
      { name: 'payload a string', status: 400, body: { type: 'order.created', payload: 'hello' } },
      { name: 'missing payload', status: 400, body: { type: 'order.created' } },
      { name: 'body an array', status: 400, body: [good] },
      { name: 'Idempotency-Key of 201 characters', status: 400, body: good, headers: { 'Idempotency-Key': 'k'.repeat(201) } },
      { name: 'Idempotency-Key with a non-ASCII character', status: 400, body: good, headers: { 'Idempotency-Key': 'cl\u00e9-1' } },
    ];

    const failures: string[] = [];
    for (const testCase of cases) {
      const response = await postMessage(producer.url(''), testCase.body, testCase.headers, testCase.raw);
      const jsonBody = typeof response.body === 'object' && response.body !== null && !Array.isArray(response.body);
      const jsonType = /^application\/json/.test(response.headers.get('content-type') ?? '');
      if (response.status !== testCase.status || !jsonBody || !jsonType) {
        failures.push(
          `${testCase.name}: expected ${testCase.status} with a JSON body, got ${response.status} ${response.headers.get('content-type')} ${JSON.stringify(response.body)?.slice(0, 200)}`,
        );
      }
    }
    expect(failures).toEqual([]);

    // A good message after them: once it is processed (and the queue is drained), anything published
    // for a bad request would have been delivered before it.
    const after = expectAccepted(await postMessage(producer.url(''), { type: 'test.after-bad', payload: {} }));
    await waitForProcessed(env, [after]);
    await waitForSettled(env, producer, [consumer]);
    expect(await env.redis.xlen(STREAM)).toBe(streamBefore + 1);
    expect(await acceptedTotal(producer)).toBe(acceptedBefore + 1);
    expect(await consumedTotal([consumer])).toBe(consumedBefore + 1);
    expect((await processedEntries(env.redis, STREAM)).slice(-1)).toEqual([{ id: after, type: 'test.after-bad' }]);
  });

  it('declares the contract topology on the broker', async () => {
    const exchanges = await rabbitmqctlJson<{ name: string; type: string; durable: boolean }>(
      'list_exchanges',
      '-p',
      env.vhost,
      'name',
      'type',
      'durable',
    );
    expect(exchanges.find((exchange) => exchange.name === EXCHANGE)).toEqual({ name: EXCHANGE, type: 'topic', durable: true });

    const queues = await listQueues(env.vhost, 'name', 'durable', 'type', 'arguments');
    const work = queues.find((queue) => queue.name === QUEUE);
    expect(work).toBeDefined();
    expect(work).toMatchObject({ durable: true, type: 'quorum' });
    const workArguments = argumentsOf(work!);
    expect(workArguments['x-queue-type']).toBe('quorum');
    expect(typeof workArguments['x-dead-letter-exchange']).toBe('string');
    expect(String(workArguments['x-dead-letter-exchange']).length).toBeGreaterThan(0);

    const dlq = queues.find((queue) => queue.name === DLQ);
    expect(dlq).toBeDefined();
    // Quorum, so it lives on no single node; its delivery limit (listings hand messages back) is out of reach.
    expect(dlq).toMatchObject({ durable: true, type: 'quorum' });
    expect(argumentsOf(dlq!)['x-delivery-limit']).toBe(DLQ_DELIVERY_LIMIT);

    // The work queue's dead letters reach the DLQ: its dead-letter exchange routes its key there.
    const bindings = await rabbitmqctlJson<{
      source_name: string;
      destination_name: string;
      destination_kind: string;
      routing_key: string;
    }>('list_bindings', '-p', env.vhost, 'source_name', 'destination_name', 'destination_kind', 'routing_key');
    expect(bindings).toContainEqual({ source_name: EXCHANGE, destination_name: QUEUE, destination_kind: 'queue', routing_key: '#' });
    const deadLetterKey =
      typeof workArguments['x-dead-letter-routing-key'] === 'string' ? workArguments['x-dead-letter-routing-key'] : QUEUE;
    expect(bindings).toContainEqual({
      source_name: String(workArguments['x-dead-letter-exchange']),
      destination_name: DLQ,
      destination_kind: 'queue',
      routing_key: deadLetterKey,
    });
  });
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
