import { randomUUID } from 'node:crypto';
import { DLQ_DELIVERY_LIMIT } from '@app/messaging/topology';
import { startApp, stopAll, waitForReady, type AppProcess } from '../support/app-process';
import { postMessage } from '../support/http';
import { assertExactlyOnce, processedCounts, processedEntries } from '../support/processed';
import { argumentsOf, listQueues, rabbitmqctlJson } from '../support/rabbitmqctl';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import {
  EXCHANGE,
  QUEUE,
  DLQ,
  STREAM,
  PROCESSED,
  DUPLICATE,
  metric,
  waitForProcessed,
  consumedTotal,
  acceptedTotal,
  waitForSettled,
  waitForConsumers,
  expectAccepted,
  warmUp,
} from './happy-path-helpers';

/**
 * The system working as the contract says when nothing goes wrong: real producer and consumer
 * processes on the real RabbitMQ and Redis, each describe in its own vhost and Redis database.
 */

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
