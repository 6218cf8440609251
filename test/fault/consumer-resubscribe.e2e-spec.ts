/**
 * Issue 10, item 5: liveness that does not depend on luck. A consumer the broker cancelled (its queue
 * deleted) subscribes again by itself once it could declare the queue again, and readiness is 503
 * meanwhile; a consuming channel the broker closed (here: a dead-letter copy to a deleted exchange,
 * 404) is opened again on the same connection, which amqplib used to drop whole. Invariant, over
 * hundreds of messages: nothing lost, nothing processed twice, nothing wrongly dead-lettered.
 */
import { randomUUID } from 'node:crypto';
import { createEnvelope, type MessageEnvelope } from '@app/messaging/envelope';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { startApp, stopAll, type AppProcess } from '../support/app-process';
import { metricValue } from '../support/http';
import { processedCounts } from '../support/processed';
import { queueState } from '../support/queue-state';
import { rabbitmqctl, rabbitmqctlJson } from '../support/rabbitmqctl';
import { appEnv, createTestEnv, serviceBase, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { drainAndCount } from './drain';

const QUEUE = 'messaging.consumer';
const DLQ = 'messaging.consumer.dlq';
const DEAD_LETTER_EXCHANGE = 'messaging.dead-letter';

describe('the consumer restores its subscription by itself (nothing lost, nothing twice)', () => {
  let env: TestEnv;
  let consumer: AppProcess;
  let connection: ChannelModel;
  let channel: ConfirmChannel;
  const user = serviceBase().amqp.user;

  const publish = async (messages: { id: string; body: Buffer }[]) => {
    for (const { id, body } of messages) channel.publish('messaging.events', 'resubscribe.test', body, { persistent: true, messageId: id });
    await channel.waitForConfirms();
  };
  const envelopes = (count: number): MessageEnvelope[] =>
    Array.from({ length: count }, (_, i) => createEnvelope('resubscribe.test', { i }));
  const wire = (list: MessageEnvelope[]) => list.map((e) => ({ id: e.id, body: Buffer.from(JSON.stringify(e)) }));
  const readiness = async () => {
    const response = await fetch(consumer.url('/health/ready'));
    return { status: response.status, body: (await response.json()) as { details?: { processing?: Record<string, string> } } };
  };
  const metric = async (sample: string) => metricValue(await (await fetch(consumer.url('/metrics'))).text(), sample);
  /** The connection (its broker-side process id) of the channel that holds our consumer. */
  const consumerConnection = async () => {
    const rows = await rabbitmqctlJson<{ connection: string; vhost: string; consumer_count: number }>(
      'list_channels',
      'connection',
      'vhost',
      'consumer_count',
    );
    const owners = [...new Set(rows.filter((row) => row.vhost === env.vhost && row.consumer_count > 0).map((row) => row.connection))];
    expect(owners).toHaveLength(1);
    return owners[0];
  };

  beforeAll(async () => {
    env = await createTestEnv('consumer-resubscribe');
    consumer = await startApp('consumer', { ...appEnv(env), CONSUMER_PREFETCH: '20' }, { ready: true });
    connection = await env.amqp();
    channel = await connection.createConfirmChannel();
    await waitFor(async () => (await readiness()).status === 200, { timeoutMs: 10_000, description: 'the consumer to be ready' });
  });

  afterEach(() => rabbitmqctl('set_permissions', '-p', env.vhost, user, '.*', '.*', '.*'));

  afterAll(async () => {
    await connection?.close().catch(() => undefined);
    await stopAll();
    await env?.cleanup();
  });

  it('work queue deleted (broker cancel) while it cannot be declared: 503, then subscribed again by itself; each message once', async () => {
    const before = envelopes(200);
    await publish(wire(before));
    expect(
      await drainAndCount(
        env,
        before.map((e) => e.id),
      ),
    ).toEqual({ lost: [], duplicated: [] });

    // Configure permission off in the suite's vhost, so the consumer cannot declare the queue again yet.
    await rabbitmqctl('set_permissions', '-p', env.vhost, user, '^$', '.*', '.*');
    await rabbitmqctl('delete_queue', '-p', env.vhost, QUEUE);
    const down = await waitFor(
      async () => {
        const state = await readiness();
        return state.status === 503 && state;
      },
      { timeoutMs: 10_000, description: 'readiness 503 once the consumer is cancelled' },
    );
    expect(down.body.details?.processing?.consumers).toMatch(/^down: no active consumer on messaging\.consumer/);
    expect(down.body.details?.processing?.broker).toBe('up');
    // Still 503 a while later: nothing consumes until the queue is back.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await readiness()).status).toBe(503);

    await rabbitmqctl('set_permissions', '-p', env.vhost, user, '.*', '.*', '.*');
    await waitFor(async () => (await readiness()).status === 200, {
      timeoutMs: 40_000,
      description: 'readiness 200 after the resubscribe',
    });
    expect(await metric('messaging_consumer_recoveries_total{cause="cancelled"}')).toBeGreaterThanOrEqual(1);
    expect((await queueState(env, QUEUE))?.consumers).toBe(1);

    const after = envelopes(300);
    await publish(wire(after));
    expect(
      await drainAndCount(
        env,
        [...before, ...after].map((e) => e.id),
      ),
    ).toEqual({ lost: [], duplicated: [] });
  });

  it('consuming channel closed by the broker (a dead letter for a deleted exchange): reopened on the same connection; each message once', async () => {
    const connectionBefore = await consumerConnection();
    await channel.deleteExchange(DEAD_LETTER_EXCHANGE);

    const good = envelopes(300);
    const poison = Array.from({ length: 20 }, () => ({ id: randomUUID(), body: Buffer.from('not json') }));
    const messages = wire(good);
    poison.forEach((message, i) => messages.splice(i * 15, 0, message));
    await publish(messages);

    expect(
      await drainAndCount(
        env,
        good.map((e) => e.id),
      ),
    ).toEqual({ lost: [], duplicated: [] });
    await waitFor(async () => (await queueState(env, DLQ))?.ready === poison.length, {
      timeoutMs: 30_000,
      description: `${poison.length} poison messages in the DLQ`,
    });
    const inDlq = new Map<string, number>();
    for (let message = await channel.get(DLQ, { noAck: true }); message; message = await channel.get(DLQ, { noAck: true })) {
      const id = String(message.properties.messageId);
      inDlq.set(id, (inDlq.get(id) ?? 0) + 1);
    }
    expect(poison.filter((p) => inDlq.get(p.id) !== 1)).toEqual([]);
    expect(inDlq.size).toBe(poison.length);
    const counts = await processedCounts(env.redis);
    expect(poison.filter((p) => counts.has(p.id))).toEqual([]);

    expect(await metric('messaging_consumer_recoveries_total{cause="channel_closed"}')).toBeGreaterThanOrEqual(1);
    expect(await consumerConnection()).toBe(connectionBefore);
    expect((await readiness()).status).toBe(200);
  });
});
