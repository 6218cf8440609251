/**
 * What the operations suites share (operations-*.e2e-spec.ts): production features against running
 * apps (the built dist/, real RabbitMQ and Redis, one vhost and one Redis database per suite).
 *
 * At most one producer runs at a time: producers share the outbox, and another producer's replay job
 * would otherwise take the messages a test watches. Likewise one consumer. The apps and proxies are
 * exported as live bindings: a suite reads `producer`, `consumer`, `env` as this module sets them.
 */
import { randomUUID } from 'node:crypto';
import { startApp, stopAll, waitForReady, type AppProcess } from '../support/app-process';
import { FaultProxy } from '../support/fault-proxy';
import { getUrl, metricValue, type HttpResult } from '../support/http';
import { processedCounts } from '../support/processed';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';

export const EXCHANGE = 'messaging.events';
export const KEY_A = `key-a-${randomUUID()}`;
export const KEY_B = `key-b-${randomUUID()}`;
export const RATE_LIMIT = 20;
export const CONSUMER_SHUTDOWN_TIMEOUT_MS = 3000;
export const FAST_REPLAY = {
  OUTBOX_REPLAY_INTERVAL_MS: '200',
  OUTBOX_BACKOFF_BASE_MS: '100',
  OUTBOX_BACKOFF_MAX_MS: '500',
  PUBLISH_CONFIRM_TIMEOUT_MS: '1000',
};

// Prometheus samples.
export const ACCEPTED_PUBLISHED = 'messaging_messages_accepted_total{status="published"}';
export const ACCEPTED_PENDING = 'messaging_messages_accepted_total{status="pending"}';
export const CONFIRM_COUNT = 'messaging_publish_confirm_seconds_count{outcome="confirmed"}';
export const CONSUMED_PROCESSED = 'messaging_consumed_total{result="processed"}';
export const HANDLER_COUNT = 'messaging_handler_duration_seconds_count';
export const REPLAYS_PUBLISHED = 'messaging_replays_total{result="published"}';
export const REPLAYS_PARKED = 'messaging_replays_total{result="parked"}';
export const OUTBOX_PENDING = 'messaging_outbox_pending';
export const OUTBOX_PARKED = 'messaging_outbox_parked';
export const RSS = 'process_resident_memory_bytes';

export async function request(
  url: string,
  init: { method?: string; headers?: Record<string, string>; json?: unknown } = {},
): Promise<HttpResult> {
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

export async function metrics(app: AppProcess): Promise<string> {
  const response = await getUrl(app.url('/metrics'));
  if (response.status !== 200) throw new Error(`GET /metrics of the ${app.kind} answered ${response.status}`);
  return String(response.body);
}

export async function metric(app: AppProcess, sample: string): Promise<number> {
  return metricValue(await metrics(app), sample);
}

export async function waitForProcessed(env: TestEnv, ids: string[], timeoutMs = 10_000): Promise<Map<string, number>> {
  return waitFor(
    async () => {
      const counts = await processedCounts(env.redis);
      return ids.every((id) => counts.has(id)) ? counts : undefined;
    },
    { timeoutMs, description: `${ids.length} message(s) to be processed` },
  );
}

export function expect202(response: HttpResult, status?: 'published' | 'pending'): string {
  expect(response.status).toBe(202);
  expect(response.body).toEqual({ id: expect.any(String), status: status ?? expect.stringMatching(/^(published|pending)$/) });
  return response.body.id as string;
}

export let env: TestEnv;
export let producerAmqp: FaultProxy;
export let producerRedis: FaultProxy;
export let consumerRedis: FaultProxy;
export let producer: AppProcess | undefined;
export let consumer: AppProcess | undefined;
/** Every producer this suite started, for the log check. */
export const producers: AppProcess[] = [];

/** Replaces the running producer (killed) by one with this environment, ready (broker and outbox up). */
export async function useProducer(extra: Record<string, string> = {}, proxied = false): Promise<AppProcess> {
  await producer?.kill();
  const base = proxied ? appEnv(env, { amqpPort: producerAmqp.port, redisPort: producerRedis.port }) : appEnv(env);
  producer = await startApp('producer', { ...base, ...FAST_REPLAY, ...extra });
  producers.push(producer);
  await waitForReady(producer);
  return producer;
}

/** The running producer was stopped by the test itself: the next useProducer has none to kill. */
export function forgetProducer(): void {
  producer = undefined;
}

/** Replaces the running consumer (killed) by one with this environment, ready (broker and Redis up). */
export async function useConsumer(extra: Record<string, string> = {}): Promise<AppProcess> {
  await consumer?.kill();
  consumer = await startApp('consumer', {
    ...appEnv(env, { redisPort: consumerRedis.port }),
    SHUTDOWN_TIMEOUT_MS: String(CONSUMER_SHUTDOWN_TIMEOUT_MS),
    ...extra,
  });
  await waitForReady(consumer);
  return consumer;
}

export const health = (app: AppProcess) => request(app.url('/health'));

/**
 * The suite's hooks: its vhost and Redis db, a fault proxy before the producer's broker and Redis
 * and before the consumer's Redis, both apps started (the producer at LOG_LEVEL=debug, behind its
 * proxies), proxies accepting again after each test, everything stopped at the end.
 */
export function useOperationsEnvironment(name: string): void {
  beforeAll(async () => {
    env = await createTestEnv(name);
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
}
