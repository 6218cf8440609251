/**
 * Production features against running apps (the built dist/, real RabbitMQ and Redis, one vhost and
 * one Redis database for the suite): health that follows the dependencies, metrics that move with
 * the traffic, API keys / idempotency scoping / rate limit / body limits / security headers / OpenAPI
 * docs / no secrets in the logs, the outbox and DLQ operator routes, graceful shutdown of both apps,
 * and start-up config validation.
 *
 * At most one producer runs at a time: producers share the outbox, and another producer's replay job
 * would otherwise take the messages a test watches. Likewise one consumer.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { messageIdForIdempotencyKey } from '@app/messaging/envelope';
import { matchApiKey } from '@app/http-platform';
import { drainAndCount } from '../fault/drain';
import { sendLoad } from '../fault/load';
import { startApp, stopAll, waitForReady, type AppProcess } from '../support/app-process';
import { FaultProxy } from '../support/fault-proxy';
import { getUrl, metricValue, postHeld, postMessage, tcpProbe, type HttpResult } from '../support/http';
import { assertExactlyOnce, processedCounts, processedEntries } from '../support/processed';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';

const EXCHANGE = 'messaging.events';
const KEY_A = `key-a-${randomUUID()}`;
const KEY_B = `key-b-${randomUUID()}`;
const RATE_LIMIT = 20;
const CONSUMER_SHUTDOWN_TIMEOUT_MS = 3000;
const FAST_REPLAY = {
  OUTBOX_REPLAY_INTERVAL_MS: '200',
  OUTBOX_BACKOFF_BASE_MS: '100',
  OUTBOX_BACKOFF_MAX_MS: '500',
  PUBLISH_CONFIRM_TIMEOUT_MS: '1000',
};

// Prometheus samples.
const ACCEPTED_PUBLISHED = 'messaging_messages_accepted_total{status="published"}';
const ACCEPTED_PENDING = 'messaging_messages_accepted_total{status="pending"}';
const CONFIRM_COUNT = 'messaging_publish_confirm_seconds_count{outcome="confirmed"}';
const CONSUMED_PROCESSED = 'messaging_consumed_total{result="processed"}';
const HANDLER_COUNT = 'messaging_handler_duration_seconds_count';
const REPLAYS_PUBLISHED = 'messaging_replays_total{result="published"}';
const REPLAYS_PARKED = 'messaging_replays_total{result="parked"}';
const OUTBOX_PENDING = 'messaging_outbox_pending';
const OUTBOX_PARKED = 'messaging_outbox_parked';
const RSS = 'process_resident_memory_bytes';

async function request(url: string, init: { method?: string; headers?: Record<string, string>; json?: unknown } = {}): Promise<HttpResult> {
  const headers = { ...(init.json === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers };
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers,
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, body, headers: response.headers };
}

async function metrics(app: AppProcess): Promise<string> {
  const response = await getUrl(app.url('/metrics'));
  if (response.status !== 200) throw new Error(`GET /metrics of the ${app.kind} answered ${response.status}`);
  return String(response.body);
}

async function metric(app: AppProcess, sample: string): Promise<number> {
  return metricValue(await metrics(app), sample);
}

async function waitForProcessed(env: TestEnv, ids: string[], timeoutMs = 10_000): Promise<Map<string, number>> {
  return waitFor(
    async () => {
      const counts = await processedCounts(env.redis);
      return ids.every((id) => counts.has(id)) ? counts : undefined;
    },
    { timeoutMs, description: `${ids.length} message(s) to be processed` },
  );
}

function expect202(response: HttpResult, status?: 'published' | 'pending'): string {
  expect(response.status).toBe(202);
  expect(response.body).toEqual({ id: expect.any(String), status: status ?? expect.stringMatching(/^(published|pending)$/) });
  return response.body.id as string;
}

describe('operations', () => {
  let env: TestEnv;
  let producerAmqp: FaultProxy;
  let producerRedis: FaultProxy;
  let consumerRedis: FaultProxy;
  let producer: AppProcess | undefined;
  let consumer: AppProcess | undefined;
  /** Every producer this suite started, for the log check. */
  const producers: AppProcess[] = [];

  /** Replaces the running producer (killed) by one with this environment, ready (broker and outbox up). */
  async function useProducer(extra: Record<string, string> = {}, proxied = false): Promise<AppProcess> {
    await producer?.kill();
    const base = proxied ? appEnv(env, { amqpPort: producerAmqp.port, redisPort: producerRedis.port }) : appEnv(env);
    producer = await startApp('producer', { ...base, ...FAST_REPLAY, ...extra });
    producers.push(producer);
    await waitForReady(producer);
    return producer;
  }

  /** Replaces the running consumer (killed) by one with this environment, ready (broker and Redis up). */
  async function useConsumer(extra: Record<string, string> = {}): Promise<AppProcess> {
    await consumer?.kill();
    consumer = await startApp('consumer', {
      ...appEnv(env, { redisPort: consumerRedis.port }),
      SHUTDOWN_TIMEOUT_MS: String(CONSUMER_SHUTDOWN_TIMEOUT_MS),
      ...extra,
    });
    await waitForReady(consumer);
    return consumer;
  }

  const health = (app: AppProcess) => request(app.url('/health'));

  beforeAll(async () => {
    env = await createTestEnv('operations');
    [producerAmqp, producerRedis, consumerRedis] = await Promise.all([
      FaultProxy.start(env.amqpPort, env.amqpHost),
      FaultProxy.start(env.redisPort, env.redisHost),
      FaultProxy.start(env.redisPort, env.redisHost),
    ]);
    await Promise.all([useConsumer(), useProducer({ LOG_LEVEL: 'debug' }, true)]);
  });

  afterEach(() => {
    for (const proxy of [producerAmqp, producerRedis, consumerRedis]) proxy?.accept();
  });

  afterAll(async () => {
    await stopAll();
    await Promise.all([producerAmqp, producerRedis, consumerRedis].map((proxy) => proxy?.stop()));
    await env?.cleanup();
  });

  describe('health', () => {
    it('producer: ok → broker refused: 200 degraded → broker and Redis refused: 503 with details → back: ok; /health/live 200 throughout', async () => {
      const app = producer!;
      const live = async () => expect((await request(app.url('/health/live'))).status).toBe(200);

      const ok = await health(app);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ status: 'ok', details: { intake: { status: 'up', broker: 'up', outbox: 'up' } } });
      await live();

      producerAmqp.refuse();
      const degraded = await waitFor(
        async () => {
          const result = await health(app);
          return result.body?.details?.intake?.broker !== 'up' ? result : undefined;
        },
        { timeoutMs: 10_000, description: 'the producer to see the broker gone' },
      );
      // One of the two ways in is enough to accept messages: terminus reports `degraded`, still 200.
      expect(degraded.status).toBe(200);
      expect(degraded.body).toMatchObject({
        status: 'degraded',
        details: { intake: { status: 'degraded', broker: 'down: not connected', outbox: 'up' } },
      });
      await live();

      producerRedis.refuse();
      const down = await waitFor(
        async () => {
          const result = await health(app);
          return result.status === 503 ? result : undefined;
        },
        { timeoutMs: 10_000, description: 'the producer health to answer 503' },
      );
      expect(down.body).toMatchObject({
        status: 'error',
        error: { intake: { status: 'down' } },
        details: { intake: { status: 'down', broker: 'down: not connected', outbox: expect.stringMatching(/^down: /) } },
      });
      await live();

      producerAmqp.accept();
      producerRedis.accept();
      await waitForReady(app, 15_000);
      const back = await health(app);
      expect(back.status).toBe(200);
      expect(back.body).toMatchObject({ status: 'ok', details: { intake: { status: 'up', broker: 'up', outbox: 'up' } } });
      await live();
    });

    it('consumer: ok → its Redis refused: 503 with details → back: ok; /health/live 200 throughout', async () => {
      const app = consumer!;
      const ok = await health(app);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ status: 'ok', details: { processing: { status: 'up', broker: 'up', redis: 'up' } } });

      consumerRedis.refuse();
      const down = await waitFor(
        async () => {
          const result = await health(app);
          return result.status === 503 ? result : undefined;
        },
        { timeoutMs: 10_000, description: 'the consumer health to answer 503' },
      );
      expect(down.body).toMatchObject({
        status: 'error',
        details: { processing: { status: 'down', broker: 'up', redis: expect.stringMatching(/^down: /) } },
      });
      expect((await request(app.url('/health/live'))).status).toBe(200);

      consumerRedis.accept();
      await waitForReady(app, 15_000);
      expect((await health(app)).body).toMatchObject({ status: 'ok', details: { processing: { status: 'up', redis: 'up' } } });
      expect((await request(app.url('/health/live'))).status).toBe(200);
    });
  });

  describe('metrics', () => {
    it('move when messages flow: accepted, confirm latency, consumed, handler duration; process metrics present', async () => {
      const [p0, c0] = [await metrics(producer!), await metrics(consumer!)];
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push(expect202(await postMessage(producer!.url(''), { type: 'metrics.test', payload: { i } }), 'published'));
      await waitForProcessed(env, ids);
      await waitFor(async () => (await metric(consumer!, CONSUMED_PROCESSED)) >= metricValue(c0, CONSUMED_PROCESSED) + 5, {
        timeoutMs: 5000,
        description: 'the consumer to count 5 more processed messages',
      });

      const [p1, c1] = [await metrics(producer!), await metrics(consumer!)];
      expect(metricValue(p1, ACCEPTED_PUBLISHED) - metricValue(p0, ACCEPTED_PUBLISHED)).toBe(5);
      expect(metricValue(p1, CONFIRM_COUNT) - metricValue(p0, CONFIRM_COUNT)).toBe(5);
      expect(metricValue(c1, CONSUMED_PROCESSED) - metricValue(c0, CONSUMED_PROCESSED)).toBe(5);
      expect(metricValue(c1, HANDLER_COUNT) - metricValue(c0, HANDLER_COUNT)).toBeGreaterThanOrEqual(5);
      expect(metricValue(p1, RSS)).toBeGreaterThan(0);
      expect(metricValue(c1, RSS)).toBeGreaterThan(0);
      expect(p1).toMatch(new RegExp(`^${OUTBOX_PENDING} \\d+$`, 'm'));
      expect(p1).toMatch(new RegExp(`^${OUTBOX_PARKED} \\d+$`, 'm'));
    });

    it('broker refused: pending rises and the outbox gauge shows the backlog; after the replay, replays published rises and the gauge drops', async () => {
      const p0 = await metrics(producer!);
      producerAmqp.refuse();
      await waitFor(async () => (await health(producer!)).body?.details?.intake?.broker !== 'up', {
        timeoutMs: 10_000,
        description: 'the producer to see the broker gone',
      });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push(expect202(await postMessage(producer!.url(''), { type: 'metrics.pending', payload: { i } }), 'pending'));
      expect((await metric(producer!, ACCEPTED_PENDING)) - metricValue(p0, ACCEPTED_PENDING)).toBe(3);
      await waitFor(async () => (await metric(producer!, OUTBOX_PENDING)) === 3, {
        timeoutMs: 5000,
        description: `${OUTBOX_PENDING} to show 3`,
      });

      producerAmqp.accept();
      await waitForProcessed(env, ids, 15_000);
      await waitFor(async () => (await metric(producer!, REPLAYS_PUBLISHED)) - metricValue(p0, REPLAYS_PUBLISHED) === 3, {
        timeoutMs: 5000,
        description: `${REPLAYS_PUBLISHED} to rise by 3`,
      });
      await waitFor(async () => (await metric(producer!, OUTBOX_PENDING)) === 0, {
        timeoutMs: 5000,
        description: `${OUTBOX_PENDING} back to 0`,
      });
      expect(await drainAndCount(env, ids, 10_000)).toEqual({ lost: [], duplicated: [] });
    });
  });

  describe('correlation id in the logs', () => {
    /** The JSON lines an app wrote (pino), parsed; other lines are skipped. */
    function logLines(app: AppProcess): Record<string, unknown>[] {
      return app
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        });
    }

    const lineAbout = (app: AppProcess, id: string, msg: string) =>
      waitFor(() => Promise.resolve(logLines(app).find((line) => line.messageId === id && line.msg === msg)), {
        timeoutMs: 10_000,
        description: `the ${app.kind}'s "${msg}" line about ${id}`,
      });

    it('X-Correlation-Id, or the trace id of a W3C traceparent, travels in the AMQP headers: at LOG_LEVEL=info the producer and the consumer each write one line per message with its messageId and correlationId', async () => {
      const app = await useProducer({ LOG_LEVEL: 'info' });
      const target = await useConsumer({ LOG_LEVEL: 'info' });
      const correlationId = `order-flow-${randomUUID()}`;
      const traceId = randomBytes(16).toString('hex');
      const byHeader = await postMessage(app.url(''), { type: 'log.correlation', payload: {} }, { 'X-Correlation-Id': correlationId });
      const byTrace = await postMessage(
        app.url(''),
        { type: 'log.traceparent', payload: {} },
        { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      );
      expect(byHeader.headers.get('x-correlation-id')).toBe(correlationId);
      expect(byTrace.headers.get('x-correlation-id')).toBe(traceId);
      const cases = [
        { id: expect202(byHeader, 'published'), correlationId, type: 'log.correlation' },
        { id: expect202(byTrace, 'published'), correlationId: traceId, type: 'log.traceparent' },
      ];
      await waitForProcessed(
        env,
        cases.map(({ id }) => id),
      );

      for (const { id, correlationId: expected, type } of cases) {
        expect(await lineAbout(app, id, 'message published')).toMatchObject({
          level: 30,
          name: 'producer',
          messageId: id,
          correlationId: expected,
          type,
          status: 'published',
        });
        expect(await lineAbout(target, id, 'message processed')).toMatchObject({
          level: 30,
          name: 'consumer',
          context: 'MessageConsumer',
          messageId: id,
          correlationId: expected,
          type,
          attempt: 1,
        });
        // One line per message on each side, not one per step.
        expect(logLines(app).filter((line) => line.messageId === id)).toHaveLength(1);
        expect(logLines(target).filter((line) => line.messageId === id)).toHaveLength(1);
      }
    });
  });

  describe('security', () => {
    let secured: AppProcess;
    /** Requests per API key that passed the API key guard on POST /messages, so counted by the rate limiter. */
    const counted = new Map<string, number>();
    const used = (key: string) => counted.get(key) ?? 0;
    const acceptedIds: string[] = [];

    /** POST /messages with a valid key (so it counts against the rate limit). */
    async function postCounted(body: unknown, headers: Record<string, string>, raw?: string): Promise<HttpResult> {
      const key = headers['X-Api-Key'] ?? headers.Authorization?.replace(/^Bearer /, '');
      counted.set(key, used(key) + 1);
      return postMessage(secured.url(''), body, headers, raw);
    }

    beforeAll(async () => {
      secured = await useProducer({ API_KEYS: `${KEY_A}, ${KEY_B}`, RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT), LOG_LEVEL: 'debug' });
    });

    it('POST /messages needs one of the API keys (X-Api-Key or Authorization: Bearer); so do the outbox and DLQ admin routes', async () => {
      const message = { type: 'secure.test', payload: {} };
      const none = await postMessage(secured.url(''), message);
      expect(none.status).toBe(401);
      expect(none.headers.get('content-type')).toMatch(/^application\/json/);
      expect(none.body).toMatchObject({ statusCode: 401, message: expect.stringMatching(/API key/) });

      const wrong = await postMessage(secured.url(''), message, { 'X-Api-Key': `${KEY_A}x` });
      expect(wrong.status).toBe(401);
      expect((await postMessage(secured.url(''), message, { Authorization: `Bearer ${KEY_B.slice(0, -1)}` })).status).toBe(401);

      acceptedIds.push(expect202(await postCounted(message, { 'X-Api-Key': KEY_A })));
      acceptedIds.push(expect202(await postCounted(message, { Authorization: `Bearer ${KEY_B}` })));

      const adminNone = await request(secured.url('/admin/outbox'));
      expect(adminNone.status).toBe(401);
      expect(adminNone.body).toMatchObject({ statusCode: 401 });
      const adminKey = await request(secured.url('/admin/outbox'), { headers: { 'X-Api-Key': KEY_B } });
      expect(adminKey.status).toBe(200);
      expect(adminKey.body).toEqual({ pending: expect.any(Number), parked: expect.any(Number) });
      expect((await request(secured.url('/admin/outbox/parked'), { headers: { Authorization: `Bearer ${KEY_A}` } })).status).toBe(200);
    });

    it('an Idempotency-Key is scoped to the API key: same key twice → same id; another API key → another id', async () => {
      const idempotencyKey = `scoped-${randomUUID()}`;
      const message = { type: 'secure.idempotent', payload: {} };
      const a1 = expect202(await postCounted(message, { 'X-Api-Key': KEY_A, 'Idempotency-Key': idempotencyKey }));
      const b = expect202(await postCounted(message, { 'X-Api-Key': KEY_B, 'Idempotency-Key': idempotencyKey }));
      const a2 = expect202(await postCounted(message, { Authorization: `Bearer ${KEY_A}`, 'Idempotency-Key': idempotencyKey }));
      expect(a2).toBe(a1);
      expect(b).not.toBe(a1);
      expect(a1).toBe(messageIdForIdempotencyKey(idempotencyKey, matchApiKey(KEY_A, [KEY_A])));
      expect(b).toBe(messageIdForIdempotencyKey(idempotencyKey, matchApiKey(KEY_B, [KEY_B])));
      expect(a1).not.toBe(messageIdForIdempotencyKey(idempotencyKey));
      acceptedIds.push(a1, b);
      const counts = await waitForProcessed(env, [a1, b]);
      expect(assertExactlyOnce(counts, [a1, b])).toEqual({ lost: [], duplicated: [] });
    });

    it('413 for a body over 256 KiB and 415 for text/plain, with JSON bodies; security headers on every answer', async () => {
      // Sent without a key: the body limit is enforced before any route runs, so this never counts.
      const large = await postMessage(secured.url(''), { type: 'secure.large', payload: { blob: 'x'.repeat(300 * 1024) } });
      expect(large.status).toBe(413);
      expect(large.headers.get('content-type')).toMatch(/^application\/json/);
      expect(large.body).toMatchObject({ statusCode: 413 });

      const text = await postCounted(
        undefined,
        { 'X-Api-Key': KEY_A, 'content-type': 'text/plain' },
        JSON.stringify({ type: 'secure.text', payload: {} }),
      );
      expect(text.status).toBe(415);
      expect(text.headers.get('content-type')).toMatch(/^application\/json/);
      expect(text.body).toMatchObject({ statusCode: 415, message: expect.stringMatching(/application\/json/) });

      const answers = [
        large,
        text,
        await postCounted({ type: 'secure.headers', payload: {} }, { 'X-Api-Key': KEY_A }),
        await health(secured),
      ];
      acceptedIds.push(expect202(answers[2]));
      for (const answer of answers) {
        expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
        expect(answer.headers.get('x-frame-options')).toBe('SAMEORIGIN');
        expect(answer.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
        expect(answer.headers.get('x-powered-by')).toBeNull();
      }
    });

    it('serves the OpenAPI UI at /docs and the document at /docs-json, with POST /messages', async () => {
      const ui = await request(secured.url('/docs'));
      expect(ui.status).toBe(200);
      expect(ui.headers.get('content-type')).toMatch(/^text\/html/);
      expect(String(ui.body)).toMatch(/swagger-ui/i);

      const document = await request(secured.url('/docs-json'));
      expect(document.status).toBe(200);
      expect(document.body).toMatchObject({ openapi: expect.stringMatching(/^3\./), paths: { '/messages': { post: expect.any(Object) } } });
      expect(Object.keys(document.body.paths)).toEqual(expect.arrayContaining(['/messages', '/admin/outbox', '/admin/outbox/parked']));
    });

    it(`rate limit per API key: request ${RATE_LIMIT + 1} of one key within a minute is answered 429 with Retry-After and not published, while the other key, from the same address, keeps its own budget`, async () => {
      const message = (i: number) => ({ type: 'secure.rate', payload: { i } });
      const remainingA = RATE_LIMIT - used(KEY_A);
      expect(remainingA).toBeGreaterThan(0);
      for (let i = 0; i < remainingA; i++) acceptedIds.push(expect202(await postCounted(message(i), { 'X-Api-Key': KEY_A })));
      const idempotencyKey = `throttled-${randomUUID()}`;
      const throttled = await postCounted(message(-1), { 'X-Api-Key': KEY_A, 'Idempotency-Key': idempotencyKey });
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('content-type')).toMatch(/^application\/json/);
      expect(throttled.body).toMatchObject({ statusCode: 429 });
      // @nestjs/throttler names the header Retry-After (its default throttler has no suffix); seconds.
      const retryAfter = Number(throttled.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);

      // Key B, from the same address (127.0.0.1), is not affected: its budget is its own, RATE_LIMIT in full.
      const remainingB = RATE_LIMIT - used(KEY_B);
      expect(remainingB).toBeGreaterThan(0);
      for (let i = 0; i < remainingB; i++) acceptedIds.push(expect202(await postCounted(message(i), { Authorization: `Bearer ${KEY_B}` })));
      const throttledB = await postCounted(message(-2), { Authorization: `Bearer ${KEY_B}` });
      expect(throttledB.status).toBe(429);
      expect(Number(throttledB.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(used(KEY_A)).toBe(RATE_LIMIT + 1);
      expect(used(KEY_B)).toBe(RATE_LIMIT + 1);
      // Admin routes are not rate limited.
      expect((await request(secured.url('/admin/outbox'), { headers: { 'X-Api-Key': KEY_A } })).status).toBe(200);

      expect(await drainAndCount(env, acceptedIds, 15_000)).toEqual({ lost: [], duplicated: [] });
      const throttledId = messageIdForIdempotencyKey(idempotencyKey, matchApiKey(KEY_A, [KEY_A]));
      expect((await processedCounts(env.redis)).has(throttledId)).toBe(false);
    });

    it('no secret in the logs: neither API key nor the broker credentials', async () => {
      await secured.stop();
      producer = undefined;
      // Logging at debug, the producer wrote its start-up settings (masked) at least.
      expect(secured.output()).toMatch(/"apiKeys":"2 configured"/);
      expect(secured.output()).toMatch(/amqp:\/\/guest:\*\*\*@/);
      // Its log file holds the same; the other producers (one of them through broker and Redis
      // outages, at debug) and the consumer are checked for the broker credentials too.
      const fileText = await waitFor(
        async () => {
          const text = await readFile(secured.logFile, 'utf8');
          return Buffer.byteLength(text) >= Buffer.byteLength(secured.output()) ? text : undefined;
        },
        { timeoutMs: 5000, description: 'the log file to be flushed' },
      );
      const logs = [
        { file: secured.logFile, text: fileText },
        ...[...producers, consumer!].map((app) => ({ file: app.logFile, text: app.output() })),
      ];
      for (const { file, text } of logs) {
        for (const secret of [KEY_A, KEY_B, 'guest:guest']) {
          expect({ file, leaks: text.includes(secret) ? secret : undefined }).toEqual({ file, leaks: undefined });
        }
      }
    });
  });

  describe('rate limit without API keys', () => {
    it('counts per client address: the 4th request within a minute from 127.0.0.1 is answered 429 with Retry-After', async () => {
      const app = await useProducer({ RATE_LIMIT_PER_MINUTE: '3' });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(expect202(await postMessage(app.url(''), { type: 'rate.address', payload: { i } })));
      const throttled = await postMessage(app.url(''), { type: 'rate.address', payload: {} });
      expect(throttled.status).toBe(429);
      expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await drainAndCount(env, ids, 10_000)).toEqual({ lost: [], duplicated: [] });
      producer = undefined;
      await app.kill();
    });
  });

  describe('outbox operator routes', () => {
    const QUEUE = 'messaging.consumer';

    /** Binds or unbinds the work queue from the exchange, on a channel of the test's own. */
    async function workQueueBinding(action: 'bind' | 'unbind'): Promise<void> {
      const connection = await env.amqp();
      try {
        const channel = await connection.createChannel();
        if (action === 'bind') await channel.bindQueue(QUEUE, EXCHANGE, '#');
        else await channel.unbindQueue(QUEUE, EXCHANGE, '#');
      } finally {
        await connection.close().catch(() => undefined);
      }
    }

    afterAll(async () => {
      await workQueueBinding('bind').catch(() => undefined);
    });

    it('messages the broker keeps refusing are parked after OUTBOX_MAX_ATTEMPTS; listed with attempts and last error; retried one and all; each processed once', async () => {
      // A real refusal with the broker connected, so that the replay job runs and fails: the work
      // queue's binding is removed (as by an operator's mistake), every publish is unroutable and, being
      // mandatory, returned; the producer counts that as not confirmed. No app is started while the
      // binding is gone (each app declares it again when it connects).
      const app = await useProducer({
        OUTBOX_MAX_ATTEMPTS: '2',
        OUTBOX_REPLAY_INTERVAL_MS: '100',
        OUTBOX_BACKOFF_BASE_MS: '50',
        OUTBOX_BACKOFF_MAX_MS: '100',
      });
      await workQueueBinding('unbind');

      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push(
          expect202(
            await postMessage(app.url(''), { type: 'parked.test', payload: { i } }, { 'X-Correlation-Id': `parked-${i}` }),
            'pending',
          ),
        );
      await waitFor(
        async () => {
          const counts = await request(app.url('/admin/outbox'));
          return counts.body?.parked === 3 && counts.body?.pending === 0;
        },
        { timeoutMs: 10_000, description: 'the 3 messages to be parked' },
      );
      expect((await request(app.url('/admin/outbox'))).body).toEqual({ pending: 0, parked: 3 });
      expect((await request(app.url('/admin/outbox/pending'))).body).toEqual([]);

      const parked = await request(app.url('/admin/outbox/parked'));
      expect(parked.status).toBe(200);
      expect([...parked.body].map((entry: { id: string }) => entry.id).sort()).toEqual([...ids].sort());
      for (const entry of parked.body) {
        expect(entry).toEqual({
          id: expect.any(String),
          type: 'parked.test',
          correlationId: expect.stringMatching(/^parked-\d$/),
          storedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          attempts: 2,
          lastError: expect.stringMatching(/not confirmed: returned \(unroutable\)/),
        });
      }
      expect((await request(app.url('/admin/outbox/parked?limit=1&offset=1'))).body).toHaveLength(1);
      expect(await metric(app, REPLAYS_PARKED)).toBe(3);
      await waitFor(async () => (await metric(app, OUTBOX_PARKED)) === 3, { timeoutMs: 5000, description: `${OUTBOX_PARKED} to show 3` });
      expect((await processedCounts(env.redis)).has(ids[0])).toBe(false);

      await workQueueBinding('bind');

      expect((await request(app.url(`/admin/outbox/parked/${randomUUID()}/retry`), { method: 'POST' })).body).toEqual({ retried: 0 });
      const one = await request(app.url(`/admin/outbox/parked/${ids[0]}/retry`), { method: 'POST' });
      expect(one.status).toBe(200);
      expect(one.body).toEqual({ retried: 1 });
      await waitForProcessed(env, [ids[0]]);
      await waitFor(async () => (await request(app.url('/admin/outbox'))).body?.pending === 0, {
        timeoutMs: 5000,
        description: 'the retried message to leave the outbox',
      });
      expect((await request(app.url('/admin/outbox'))).body).toEqual({ pending: 0, parked: 2 });

      const all = await request(app.url('/admin/outbox/parked/retry'), { method: 'POST', json: { all: true } });
      expect(all.status).toBe(200);
      expect(all.body).toEqual({ retried: 2 });
      await waitForProcessed(env, ids);
      expect(await drainAndCount(env, ids, 10_000)).toEqual({ lost: [], duplicated: [] });
      expect((await request(app.url('/admin/outbox'))).body).toEqual({ pending: 0, parked: 0 });
    });
  });

  describe('DLQ operator routes', () => {
    const dlqAuth = { 'X-Api-Key': KEY_A };

    it('messages that always fail end in the DLQ with failure headers; moved back one and all to a healthy consumer; each processed once', async () => {
      const app = producer ?? (await useProducer());
      const failing = await useConsumer({
        CONSUMER_SIMULATED_FAILURES: 'on',
        CONSUMER_MAX_ATTEMPTS: '2',
        CONSUMER_RETRY_BASE_DELAY_MS: '50',
        API_KEYS: `${KEY_A},${KEY_B}`,
      });
      expect((await request(failing.url('/admin/dlq'))).status).toBe(401);
      expect((await request(failing.url('/admin/dlq'), { headers: dlqAuth })).body).toEqual({ count: 0 });

      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push(expect202(await postMessage(app.url(''), { type: 'dlq.test', payload: { i, simulateFailure: { always: true } } })));
      await waitFor(async () => (await request(failing.url('/admin/dlq'), { headers: dlqAuth })).body?.count === 3, {
        timeoutMs: 10_000,
        description: 'the 3 failing messages in the DLQ',
      });

      const listed = await request(failing.url('/admin/dlq/messages'), { headers: dlqAuth });
      expect(listed.status).toBe(200);
      expect(listed.body.map((letter: { messageId: string }) => letter.messageId).sort()).toEqual([...ids].sort());
      for (const letter of listed.body) {
        expect(letter).toMatchObject({
          type: 'dlq.test',
          failure: {
            'x-failure-reason': expect.stringMatching(/^handler failed 2 time\(s\), last: SimulatedFailure: simulated failure of message /),
            'x-failure-kind': 'exhausted',
            'x-failed-queue': 'messaging.consumer',
            'x-failed-attempts': 2,
            'x-failed-at': expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          },
        });
        expect(JSON.parse(letter.body)).toMatchObject({
          id: letter.messageId,
          type: 'dlq.test',
          payload: { simulateFailure: { always: true } },
        });
      }
      // Listing hands the messages back.
      await waitFor(async () => (await request(failing.url('/admin/dlq'), { headers: dlqAuth })).body?.count === 3, {
        timeoutMs: 5000,
        description: 'the listed messages back in the DLQ',
      });
      expect((await processedCounts(env.redis)).has(ids[0])).toBe(false);

      const healthy = await useConsumer({ CONSUMER_SIMULATED_FAILURES: 'off', API_KEYS: `${KEY_A},${KEY_B}` });
      expect((await request(healthy.url('/admin/dlq/move-back'), { method: 'POST', json: {} })).status).toBe(401);
      const one = await request(healthy.url(`/admin/dlq/${ids[1]}/move-back`), { method: 'POST', headers: dlqAuth });
      expect(one.status).toBe(200);
      expect(one.body).toEqual({ moved: [ids[1]] });
      const afterOne = await waitForProcessed(env, [ids[1]]);
      expect(afterOne.get(ids[1])).toBe(1);
      expect(afterOne.has(ids[0]) || afterOne.has(ids[2])).toBe(false);
      await waitFor(async () => (await request(healthy.url('/admin/dlq'), { headers: dlqAuth })).body?.count === 2, {
        timeoutMs: 5000,
        description: '2 messages left in the DLQ',
      });

      const all = await request(healthy.url('/admin/dlq/move-back'), {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY_B}` },
        json: { all: true },
      });
      expect(all.status).toBe(200);
      expect([...all.body.moved].sort()).toEqual([ids[0], ids[2]].sort());
      expect(await drainAndCount(env, ids, 10_000)).toEqual({ lost: [], duplicated: [] });
      await waitFor(async () => (await request(healthy.url('/admin/dlq'), { headers: dlqAuth })).body?.count === 0, {
        timeoutMs: 5000,
        description: 'the DLQ to be empty',
      });
    });
  });

  describe('graceful shutdown', () => {
    it(`SIGTERM to the consumer while messages are being delivered: it drains and stops within SHUTDOWN_TIMEOUT_MS (${CONSUMER_SHUTDOWN_TIMEOUT_MS} ms) + 3 s; a new consumer finishes; every message once`, async () => {
      const app = producer ?? (await useProducer());
      const target = await useConsumer();
      const type = `shutdown.consumer.${randomUUID().slice(0, 8)}`;
      const processedOfType = async () => (await processedEntries(env.redis)).filter((entry) => entry.type === type).length;

      let stopped: Promise<{ code: number | null; ms: number }> | undefined;
      const stopWhenBusy = waitFor(async () => (await processedOfType()) >= 20, {
        timeoutMs: 20_000,
        intervalMs: 10,
        description: '20 messages processed',
      }).then(() => {
        const started = Date.now();
        stopped = target.stop().then((code) => ({ code, ms: Date.now() - started }));
        return stopped;
      });
      const load = await sendLoad({ count: 300, concurrency: 20, ratePerSecond: 200, type, baseUrl: () => app.url('') });
      const { code, ms } = await stopWhenBusy;
      expect(load.unexpected).toEqual([]);
      expect(load.accepted.size).toBe(300);
      expect(await processedOfType()).toBeLessThan(300);

      // Nest runs the shutdown hooks (stop consuming, drain the handlers in flight, close) and then
      // re-raises SIGTERM, so a clean stop ends by the signal; exit code 0 would be the forced exit
      // of http-app.ts after SHUTDOWN_TIMEOUT_MS + 5 s.
      expect({ code, signal: target.exitSignal() }).toEqual({ code: null, signal: 'SIGTERM' });
      expect(ms).toBeLessThan(CONSUMER_SHUTDOWN_TIMEOUT_MS + 3000);
      expect(target.output()).not.toMatch(/still in flight after/);

      await useConsumer();
      expect(await drainAndCount(env, load.accepted.keys(), 20_000)).toEqual({ lost: [], duplicated: [] });
    });

    it('SIGTERM to the producer with a POST in flight: it stops accepting connections at once, answers the in-flight POST 202, then closes and ends by the re-raised SIGTERM; the message is processed once', async () => {
      const target = await useProducer();
      // The request is in the producer's hands (it answered 100 Continue) and waits for its body.
      const held = postHeld(target.url(''), { type: 'shutdown.in-flight', payload: {} }, { 'X-Correlation-Id': 'in-flight' });
      await held.continued;
      const stopped = target.stop();
      await waitFor(async () => (await tcpProbe(target.port)) === 'refused', {
        timeoutMs: 10_000,
        description: 'the producer to stop accepting connections',
      });
      // Not accepting, and still running: it waits for the request it is handling.
      expect(target.exitSignal()).toBeNull();
      held.send();
      const answer = await held.response;
      expect(answer.status).toBe(202);
      expect(answer.body).toEqual({ id: expect.any(String), status: 'published' });
      expect(answer.headers.get('connection')).toBe('close');
      expect(await stopped).toBeNull();
      expect(target.exitSignal()).toBe('SIGTERM');
      producer = undefined;
      expect(await drainAndCount(env, [answer.body.id as string], 10_000)).toEqual({ lost: [], duplicated: [] });
    });

    it('SIGTERM to the producer while a client holds its request body back: after SHUTDOWN_TIMEOUT_MS that client is disconnected unanswered and the stop goes on to end by SIGTERM (not by the overrun exit)', async () => {
      const target = await useProducer({ SHUTDOWN_TIMEOUT_MS: '1000' });
      const held = postHeld(target.url(''), { type: 'shutdown.stalled', payload: {} });
      await held.continued;
      const stopped = target.stop();
      const answer = await held.response;
      expect(answer.status).toBe(0);
      // Exit code 1 would be the overrun exit, SHUTDOWN_TIMEOUT_MS + 5 s after the signal.
      expect(await stopped).toBeNull();
      expect(target.exitSignal()).toBe('SIGTERM');
      producer = undefined;
    });

    it('a second SIGTERM during the stop ends the producer at once with exit code 1', async () => {
      const target = await useProducer({ SHUTDOWN_TIMEOUT_MS: '60000' });
      const held = postHeld(target.url(''), { type: 'shutdown.second-signal', payload: {} });
      await held.continued;
      void target.stop();
      await waitFor(async () => (await tcpProbe(target.port)) === 'refused', {
        timeoutMs: 10_000,
        description: 'the producer to begin its stop',
      });
      expect(await target.stop()).toBe(1);
      expect(target.exitSignal()).toBeNull();
      expect((await held.response).status).toBe(0);
      producer = undefined;
    });

    it('SIGTERM to the producer under load: it stops promptly; every 202 is processed exactly once and nothing is published without its 202', async () => {
      const target = await useProducer();
      let stopped: Promise<{ code: number | null; ms: number }> | undefined;
      const load = await sendLoad({
        count: 200,
        concurrency: 4,
        ratePerSecond: 200,
        type: 'shutdown.producer',
        baseUrl: () => target.url(''),
        onProgress: (sent) => {
          if (sent === 60) {
            const started = Date.now();
            stopped = target.stop().then((code) => ({ code, ms: Date.now() - started }));
          }
        },
      });
      const { code, ms } = await stopped!;
      expect({ code, signal: target.exitSignal() }).toEqual({ code: null, signal: 'SIGTERM' });
      expect(ms).toBeLessThan(5000);
      expect(load.unexpected).toEqual([]);
      expect(load.accepted.size).toBeGreaterThanOrEqual(60);
      expect(load.refused).toBeGreaterThan(0);

      // A replacement producer replays anything the stopped one left in the outbox.
      producer = undefined;
      await useProducer();
      expect(await drainAndCount(env, load.accepted.keys(), 20_000)).toEqual({ lost: [], duplicated: [] });
      // The refusals are connections refused after the listener closed, 503s, and now and then a reset
      // of a keep-alive connection the producer closed as idle just as the client reused it. None of
      // them was a request the producer had taken: every message that was published got its 202.
      const published = (await processedEntries(env.redis)).filter((entry) => entry.type === 'shutdown.producer').map((entry) => entry.id);
      expect(published.filter((id) => !load.accepted.has(id))).toEqual([]);
    });
  });

  describe('config validation', () => {
    it.each([
      ['PRODUCER_PORT', 'abc'],
      ['RABBITMQ_URL', 'http://x'],
    ])('%s=%s: the producer exits with code 1 and one line naming the variable', async (variable, value) => {
      const app = await startApp('producer', { ...appEnv(env), [variable]: value }, { waitForHealth: false });
      expect(await app.exited).toBe(1);
      const lines = app.output().trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^Invalid configuration: ${variable} `));
    });
  });
});
