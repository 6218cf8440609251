import { randomUUID } from 'node:crypto';
import { startApp, stopAll, waitForReady, type AppProcess } from '../support/app-process';
import { getUrl, metricValue, postMessage } from '../support/http';
import { assertExactlyOnce, processedCounts, processedEntries } from '../support/processed';
import { queueState } from '../support/queue-state';
import { argumentsOf, queueInfo, rabbitmqctlJson } from '../support/rabbitmqctl';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';

/**
 * Two subscriptions in one consumer: the default one (the contract's queue, bound with `#`, the
 * reference handler's stream) and `audit` of test/fixtures/audit-subscription-consumer.ts (its own
 * queue bound to `order.*` and `invoice.paid`, prefetch 5, two attempts 200 ms apart, RangeError
 * permanent, a payload schema). Each does its work exactly once for a message both receive, retries
 * by its own policy and dead-letters into its own DLQ.
 */

const FIXTURE = 'test/fixtures/audit-subscription-consumer.ts';
const EXCHANGE = 'messaging.events';
const DLX = 'messaging.dead-letter';
const QUEUE = 'messaging.consumer';
const AUDIT_QUEUE = 'audit.consumer';
const STREAM = 'messaging:processed';
const AUDIT_STREAM = 'audit:processed';
const CONSUMED = ['processed', 'duplicate', 'retried', 'dead_lettered'].map((result) => `messaging_consumed_total{result="${result}"}`);

interface DeadLetterView {
  messageId?: string;
  failure: Record<string, unknown>;
}

/** The default subscription's policy (the CONSUMER_* settings), given to both apps: each declares the topology. */
const DEFAULT_POLICY = { CONSUMER_MAX_ATTEMPTS: '4', CONSUMER_RETRY_BASE_DELAY_MS: '100', CONSUMER_RETRY_MAX_DELAY_MS: '200' };

let env: TestEnv;
let producer: AppProcess;
let consumer: AppProcess;

beforeAll(async () => {
  env = await createTestEnv('subscriptions');
  consumer = await startApp(
    'consumer',
    { ...appEnv(env), ...DEFAULT_POLICY, CONSUMER_SIMULATED_FAILURES: 'on' },
    { entry: FIXTURE, healthTimeoutMs: 90_000 },
  );
  await waitForReady(consumer);
  producer = await startApp('producer', { ...appEnv(env), ...DEFAULT_POLICY });
  await waitForReady(producer);
}, 180_000);

afterAll(async () => {
  await stopAll();
  await env?.cleanup();
});

/** Posts a message; the Idempotency-Key makes its id known in advance (and a second post a duplicate). */
async function post(type: string, payload: Record<string, unknown>, key: string = randomUUID()): Promise<string> {
  const answer = await postMessage(producer.url(''), { type, payload }, { 'Idempotency-Key': key });
  if (answer.status !== 202) throw new Error(`POST /messages answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return (answer.body as { id: string }).id;
}

async function consumedTotal(): Promise<number> {
  const text = String((await getUrl(consumer.url('/metrics'))).body);
  return CONSUMED.reduce((total, sample) => total + metricValue(text, sample), 0);
}

async function waitForEntries(stream: string, ids: string[], timeoutMs = 20_000): Promise<Map<string, number>> {
  return waitFor(
    async () => {
      const counts = await processedCounts(env.redis, stream);
      return ids.every((id) => (counts.get(id) ?? 0) > 0) ? counts : undefined;
    },
    { timeoutMs, description: `${ids.length} message(s) in ${stream}` },
  );
}

/** Both work queues drained and at least `deliveries` deliveries handled in all (so every copy was seen). */
async function waitForSettled(deliveries: number): Promise<void> {
  await waitFor(
    async () => {
      for (const queue of [QUEUE, AUDIT_QUEUE]) if ((await queueState(env, queue))?.ready !== 0) return false;
      return (await consumedTotal()) >= deliveries;
    },
    { timeoutMs: 20_000, description: `both queues drained and ${deliveries} deliveries handled` },
  );
}

function deadLettersOf(subscription: string | undefined): Promise<DeadLetterView[]> {
  const query = subscription === undefined ? '' : `&subscription=${subscription}`;
  return getUrl(consumer.url(`/admin/dlq/messages?limit=1000${query}`)).then((answer) => {
    if (answer.status !== 200) throw new Error(`GET /admin/dlq/messages answered ${answer.status}`);
    return answer.body as DeadLetterView[];
  });
}

/** Waits for the message in a subscription's DLQ (undefined: the default one) and returns its copies there. */
async function waitForDeadLetter(subscription: string | undefined, id: string): Promise<DeadLetterView[]> {
  return waitFor(
    async () => {
      const copies = (await deadLettersOf(subscription)).filter((letter) => letter.messageId === id);
      return copies.length > 0 ? copies : undefined;
    },
    { timeoutMs: 20_000, description: `${id} in the DLQ of ${subscription ?? 'the default subscription'}` },
  );
}

describe('topology per subscription', () => {
  it('gives each subscription its own queue, bindings, delay queues and DLQ, and a channel with its own prefetch', async () => {
    const bindings = await rabbitmqctlJson<{ source_name: string; destination_name: string; routing_key: string }>(
      'list_bindings',
      '-p',
      env.vhost,
      'source_name',
      'destination_name',
      'routing_key',
    );
    const keys = (source: string, destination: string) =>
      bindings
        .filter((row) => row.source_name === source && row.destination_name === destination)
        .map((row) => row.routing_key)
        .sort();
    expect(keys(EXCHANGE, QUEUE)).toEqual(['#']);
    expect(keys(EXCHANGE, AUDIT_QUEUE)).toEqual(['invoice.paid', 'order.*']);
    expect(keys(DLX, `${QUEUE}.dlq`)).toEqual([QUEUE]);
    expect(keys(DLX, `${AUDIT_QUEUE}.dlq`)).toEqual([AUDIT_QUEUE]);

    const audit = await queueInfo(env.vhost, AUDIT_QUEUE, 'arguments');
    expect(argumentsOf(audit ?? {})).toMatchObject({
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': DLX,
      'x-dead-letter-routing-key': AUDIT_QUEUE,
      'x-delivery-limit': 100,
    });
    const retry = await queueInfo(env.vhost, `${AUDIT_QUEUE}.retry.200ms`, 'arguments');
    expect(argumentsOf(retry ?? {})).toMatchObject({ 'x-message-ttl': 200, 'x-dead-letter-routing-key': AUDIT_QUEUE });
    expect(await queueInfo(env.vhost, `${AUDIT_QUEUE}.retry.400ms`)).toBeUndefined();
    for (const delay of [100, 200]) expect(await queueInfo(env.vhost, `${QUEUE}.retry.${delay}ms`)).toBeDefined();

    const consumers = await rabbitmqctlJson<{ queue_name: string; prefetch_count: number }>(
      'list_consumers',
      '-p',
      env.vhost,
      'queue_name',
      'prefetch_count',
    );
    expect(consumers.filter((row) => row.queue_name === AUDIT_QUEUE).map((row) => row.prefetch_count)).toEqual([5]);
    expect(consumers.filter((row) => row.queue_name === QUEUE).map((row) => row.prefetch_count)).toEqual([50]);
  });
});

describe('two subscriptions, one message', () => {
  it('is processed exactly once by each subscription it is bound to, however often it is delivered', async () => {
    const before = await consumedTotal();
    const both: string[] = [];
    const defaultOnly: string[] = [];
    const keys = Array.from({ length: 40 }, () => randomUUID());
    for (const [i, key] of keys.entries()) {
      const type = i < 20 ? 'order.created' : i < 30 ? 'invoice.paid' : 'shipment.sent';
      const payload = { orderId: `order-${i}` };
      // Twice with the same key: the same id, a duplicate in each queue.
      const id = await post(type, payload, key);
      expect(await post(type, payload, key)).toBe(id);
      (i < 30 ? both : defaultOnly).push(id);
    }
    // A third copy of some, straight to the exchange, as a publisher that retried on its own would send.
    const connection = await env.amqp();
    const channel = await connection.createConfirmChannel();
    for (const id of [...both.slice(0, 10), ...defaultOnly.slice(0, 5)]) {
      const type = both.includes(id) ? 'order.created' : 'shipment.sent';
      const body = { id, type, occurredAt: new Date().toISOString(), schemaVersion: 1, payload: { orderId: 'copy' } };
      channel.publish(EXCHANGE, type, Buffer.from(JSON.stringify(body)), {
        persistent: true,
        messageId: id,
        type,
        contentType: 'application/json',
      });
    }
    await channel.waitForConfirms();
    await connection.close();

    await waitForEntries(STREAM, [...both, ...defaultOnly]);
    await waitForEntries(AUDIT_STREAM, both);
    // Default: 40 ids x 2 + 15 copies; audit: 30 ids x 2 + 10 copies.
    await waitForSettled(before + 80 + 15 + 60 + 10);

    const defaultCounts = await processedCounts(env.redis, STREAM);
    const auditCounts = await processedCounts(env.redis, AUDIT_STREAM);
    expect(assertExactlyOnce(defaultCounts, [...both, ...defaultOnly])).toEqual({ lost: [], duplicated: [] });
    expect(assertExactlyOnce(auditCounts, both)).toEqual({ lost: [], duplicated: [] });
    expect(defaultOnly.filter((id) => auditCounts.has(id))).toEqual([]);
    const auditEntries = (await processedEntries(env.redis, AUDIT_STREAM)).filter((entry) => both.includes(entry.id));
    expect(new Set(auditEntries.map((entry) => entry.type))).toEqual(new Set(['order.created', 'invoice.paid']));

    // The default subscription keeps the guard's keys of earlier versions; audit's are in its queue's namespace.
    const [id] = both;
    expect(await env.redis.exists(`messaging:{${id}}:done`)).toBe(1);
    expect(await env.redis.exists(`messaging:${AUDIT_QUEUE}:{${id}}:done`)).toBe(1);
    expect(await env.redis.exists(`messaging:${AUDIT_QUEUE}:{${defaultOnly[0]}}:done`)).toBe(0);
  });

  it('retries a failing message by each subscription own policy, through its own delay queues', async () => {
    // The default subscription fails twice (of 4 attempts), audit once (of 2).
    const id = await post('order.created', { orderId: 'retry-1', simulateFailure: { attempts: 2 }, audit: { failAttempts: 1 } });
    await waitForEntries(STREAM, [id]);
    await waitForEntries(AUDIT_STREAM, [id]);
    const audit = (await processedEntries(env.redis, AUDIT_STREAM)).filter((row) => row.id === id);
    expect(audit).toEqual([{ id, type: 'order.created', attempt: '2' }]);
    expect((await processedCounts(env.redis, STREAM)).get(id)).toBe(1);
    // Each retry went through its own subscription's delay queue.
    const retries = await rabbitmqctlJson<{ name: string; messages: number }>('list_queues', '-p', env.vhost, 'name', 'messages');
    expect(
      retries
        .map((row) => row.name)
        .filter((name) => name.includes('.retry.'))
        .sort(),
    ).toEqual([`${AUDIT_QUEUE}.retry.200ms`, `${QUEUE}.retry.100ms`, `${QUEUE}.retry.200ms`]);
  });

  it('dead-letters a message that fails every attempt into each subscription own DLQ, after its own attempts', async () => {
    const id = await post('order.created', { orderId: 'always', simulateFailure: { always: true }, audit: { failAttempts: 99 } });
    const [defaultLetter, ...defaultMore] = await waitForDeadLetter(undefined, id);
    const [auditLetter, ...auditMore] = await waitForDeadLetter('audit', id);
    expect([defaultMore, auditMore]).toEqual([[], []]);
    expect(defaultLetter.failure).toMatchObject({ 'x-failure-kind': 'exhausted', 'x-failed-attempts': 4, 'x-failed-queue': QUEUE });
    expect(auditLetter.failure).toMatchObject({ 'x-failure-kind': 'exhausted', 'x-failed-attempts': 2, 'x-failed-queue': AUDIT_QUEUE });
    expect(String(auditLetter.failure['x-failure-reason'])).toContain('audit of order always failed on attempt 2');
    expect((await processedCounts(env.redis, STREAM)).has(id)).toBe(false);
    expect((await processedCounts(env.redis, AUDIT_STREAM)).has(id)).toBe(false);
  });

  it.each([
    ['a NonRetryableError', { permanent: true }, 'NonRetryableError: order perm-1 cannot be audited', 'perm-1'],
    ['an error the policy calls permanent', { outOfRange: true }, 'RangeError: order perm-2 is out of range', 'perm-2'],
  ])(
    'sends %s to the subscription DLQ at once, without a retry; the other subscription does its work',
    async (_, audit, reason, orderId) => {
      const id = await post('order.created', { orderId, audit });
      const [letter, ...more] = await waitForDeadLetter('audit', id);
      expect(more).toEqual([]);
      expect(letter.failure).toMatchObject({ 'x-failure-kind': 'permanent', 'x-failed-attempts': 1, 'x-failed-queue': AUDIT_QUEUE });
      expect(String(letter.failure['x-failure-reason'])).toContain(reason);
      await waitForEntries(STREAM, [id]);
      expect((await processedCounts(env.redis, AUDIT_STREAM)).has(id)).toBe(false);
      expect((await deadLettersOf(undefined)).some((dead) => dead.messageId === id)).toBe(false);
    },
  );

  it.each([
    ['a field of the wrong type', { orderId: 42 }, 'orderId: Invalid input: expected string, received number'],
    ['a missing field', { other: true }, 'orderId: Invalid input: expected string, received undefined'],
    ['a nested field', { orderId: 'o', audit: { failAttempts: 'x' } }, 'audit.failAttempts: Invalid input: expected number'],
  ])('dead-letters a payload with %s as poison in the subscription whose schema it fails, naming the field', async (_, payload, reason) => {
    const id = await post('order.created', payload);
    const [letter, ...more] = await waitForDeadLetter('audit', id);
    expect(more).toEqual([]);
    expect(letter.failure).toMatchObject({ 'x-failure-kind': 'poison', 'x-failed-attempts': 0, 'x-failed-queue': AUDIT_QUEUE });
    expect(String(letter.failure['x-failure-reason'])).toContain(
      `invalid message: payload of order.created does not match its schema: ${reason}`,
    );
    await waitForEntries(STREAM, [id]);
    expect(await env.redis.exists(`messaging:${AUDIT_QUEUE}:{${id}}:done`)).toBe(0);
  });

  it('reports an active consumer on each queue, and refuses an unknown subscription in the admin routes', async () => {
    for (const queue of [QUEUE, AUDIT_QUEUE]) expect((await queueState(env, queue))?.consumers).toBe(1);
    const health = await getUrl(consumer.url('/health'));
    expect(health.status).toBe(200);
    expect((await getUrl(consumer.url('/admin/dlq?subscription=nope'))).status).toBe(404);
    expect((await getUrl(consumer.url('/admin/dlq?subscription=audit'))).body).toEqual({ count: expect.any(Number) });
  });
});

describe('a subscription declared in code with a bad field', () => {
  it('stops the start before Nest with exit code 1 and one line naming the field, as a bad variable does', async () => {
    const bad = await startApp('consumer', { ...appEnv(env), AUDIT_FIXTURE_PREFETCH: '0' }, { entry: FIXTURE, waitForHealth: false });
    expect(await bad.exited).toBe(1);
    const lines = bad
      .output()
      .trimEnd()
      .split('\n')
      .filter((line) => !/^\(node:\d+\)|^\(Use `node --trace/.test(line));
    expect(lines).toEqual([expect.stringMatching(/^Invalid configuration: subscriptions\[1\]\.prefetch /)]);
  });
});
