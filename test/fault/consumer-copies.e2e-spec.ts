/**
 * Issue 10, item 3: copies with nowhere to go. The consumer copies a failed delivery to a delay queue
 * (retry) or to the DLQ; with that queue deleted, a copy without `mandatory` was confirmed into
 * nothing and the message lost. Invariant, counted over hundreds of messages: nothing lost, nothing
 * processed twice, nothing wrongly dead-lettered; a returned copy is counted, its original handed
 * back (not acknowledged), and the missing queue declared again.
 */
import { createEnvelope, type MessageEnvelope } from '@app/messaging/envelope';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { startApp, stopAll, type AppProcess } from '../support/app-process';
import { metricValue } from '../support/http';
import { processedCounts } from '../support/processed';
import { queueState } from '../support/queue-state';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { drainAndCount } from './drain';

const CONSUMER_SETTINGS = {
  CONSUMER_SIMULATED_FAILURES: 'on',
  CONSUMER_MAX_ATTEMPTS: '3',
  CONSUMER_RETRY_BASE_DELAY_MS: '200',
  CONSUMER_RETRY_MAX_DELAY_MS: '400',
  CONSUMER_PREFETCH: '20',
};
const FIRST_DELAY_QUEUE = 'messaging.consumer.retry.200ms';
const DLQ = 'messaging.consumer.dlq';

describe('copies with nowhere to go (nothing lost, nothing twice, nothing wrongly dead-lettered)', () => {
  let env: TestEnv;
  let consumer: AppProcess;
  let connection: ChannelModel;
  let channel: ConfirmChannel;

  const publish = async (envelopes: MessageEnvelope[]) => {
    for (const envelope of envelopes) {
      channel.publish('messaging.events', envelope.type, Buffer.from(JSON.stringify(envelope)), {
        persistent: true,
        messageId: envelope.id,
        contentType: 'application/json',
      });
    }
    await channel.waitForConfirms();
  };

  const metric = async (sample: string) => metricValue(await (await fetch(consumer.url('/metrics'))).text(), sample);

  beforeAll(async () => {
    env = await createTestEnv('consumer-copies');
    consumer = await startApp('consumer', { ...appEnv(env), ...CONSUMER_SETTINGS }, { ready: true });
    connection = await env.amqp();
    channel = await connection.createConfirmChannel();
  });

  afterAll(async () => {
    await connection?.close().catch(() => undefined);
    await stopAll();
    await env?.cleanup();
  });

  it('a deleted delay queue: retry copies come back, the originals are handed back, the queue is declared again; each message once', async () => {
    expect(await queueState(env, FIRST_DELAY_QUEUE)).toEqual({ ready: 0, consumers: 0 });
    await channel.deleteQueue(FIRST_DELAY_QUEUE);
    expect(await queueState(env, FIRST_DELAY_QUEUE)).toBeUndefined();

    const envelopes = Array.from({ length: 300 }, (_, i) => createEnvelope('fails.once', { i, simulateFailure: { attempts: 1 } }));
    await publish(envelopes);

    const report = await drainAndCount(
      env,
      envelopes.map((e) => e.id),
    );
    expect(report).toEqual({ lost: [], duplicated: [] });
    expect(await metric('messaging_copies_returned_total{target="retry"}')).toBeGreaterThanOrEqual(1);
    expect(await queueState(env, FIRST_DELAY_QUEUE)).toEqual({ ready: 0, consumers: 0 });
    expect(await queueState(env, DLQ)).toEqual({ ready: 0, consumers: 0 });
    expect(await metric('messaging_consumed_total{result="dead_lettered"}')).toBe(0);
  });

  it('a deleted DLQ: dead-letter copies come back, the originals are handed back, the DLQ is declared and bound again; each message there once', async () => {
    await channel.deleteQueue(DLQ);
    const envelopes = Array.from({ length: 200 }, (_, i) => createEnvelope('always.fails', { i, simulateFailure: { always: true } }));
    await publish(envelopes);

    await waitFor(async () => (await queueState(env, DLQ))?.ready === envelopes.length, {
      timeoutMs: 60_000,
      intervalMs: 200,
      description: `${envelopes.length} dead letters in the DLQ`,
    }).catch((error: Error) => process.stderr.write(`${error.message}\n`));
    const inDlq = new Map<string, number>();
    for (let message = await channel.get(DLQ, { noAck: true }); message; message = await channel.get(DLQ, { noAck: true })) {
      const id = String(message.properties.messageId);
      inDlq.set(id, (inDlq.get(id) ?? 0) + 1);
    }
    expect(envelopes.filter((e) => inDlq.get(e.id) !== 1).map((e) => e.id)).toEqual([]);
    expect(inDlq.size).toBe(envelopes.length);
    expect(await metric('messaging_copies_returned_total{target="dead_letter"}')).toBeGreaterThanOrEqual(1);
    const counts = await processedCounts(env.redis);
    expect(envelopes.filter((e) => counts.has(e.id))).toEqual([]);
    expect((await queueState(env, 'messaging.consumer'))?.ready).toBe(0);
  });
});
