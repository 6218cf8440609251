import { randomUUID } from 'node:crypto';
import type { AppProcess } from '../support/app-process';
import { queueState } from '../support/queue-state';
import { getUrl, metricValue, postMessage, type HttpResult } from '../support/http';
import { processedCounts } from '../support/processed';
import type { TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';

/** What the happy-path suites share: the contract names and waits on processing and metrics. */
export const EXCHANGE = 'messaging.events';
export const QUEUE = 'messaging.consumer';
export const DLQ = 'messaging.consumer.dlq';
export const STREAM = 'messaging:processed';
export const PROCESSED = 'messaging_consumed_total{result="processed"}';
export const DUPLICATE = 'messaging_consumed_total{result="duplicate"}';
const ACCEPTED_PUBLISHED = 'messaging_messages_accepted_total{status="published"}';
const ACCEPTED_PENDING = 'messaging_messages_accepted_total{status="pending"}';

export async function metric(app: AppProcess, sample: string): Promise<number> {
  const response = await getUrl(app.url('/metrics'));
  if (response.status !== 200) throw new Error(`GET /metrics of the ${app.kind} answered ${response.status}`);
  return metricValue(String(response.body), sample);
}

/** Waits until every id has an entry in the processed stream; returns the counts at that moment. */
export async function waitForProcessed(env: TestEnv, ids: Iterable<string>, timeoutMs = 5000): Promise<Map<string, number>> {
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
export async function consumedTotal(consumers: AppProcess[]): Promise<number> {
  let total = 0;
  for (const consumer of consumers) for (const sample of CONSUMED) total += await metric(consumer, sample);
  return total;
}

/** Every message the producer answered 202 for. */
export async function acceptedTotal(producer: AppProcess): Promise<number> {
  return (await metric(producer, ACCEPTED_PUBLISHED)) + (await metric(producer, ACCEPTED_PENDING));
}

/**
 * Waits until the work is settled: no message waits in the queue and the consumers handled at least
 * one delivery per accepted message (so a second copy of a message has been handled too). Uses live
 * sources only (a passive declare and the apps' counters), not rabbitmqctl's delayed statistics.
 */
export async function waitForSettled(env: TestEnv, producer: AppProcess, consumers: AppProcess[], timeoutMs = 10_000): Promise<void> {
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
export async function waitForConsumers(env: TestEnv, count: number): Promise<void> {
  await waitFor(async () => (await queueState(env, QUEUE))?.consumers === count, {
    timeoutMs: 15_000,
    intervalMs: 50,
    description: `${count} consumer(s) on ${QUEUE}`,
  });
}

export function expectAccepted(response: HttpResult): string {
  expect(response.status).toBe(202);
  expect(response.body).toEqual({ id: expect.any(String), status: expect.stringMatching(/^(published|pending)$/) });
  return response.body.id as string;
}

/** Posts with a fixed Idempotency-Key until the producer answers `published` (its confirm channel is open). */
export async function warmUp(producer: AppProcess): Promise<string> {
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
