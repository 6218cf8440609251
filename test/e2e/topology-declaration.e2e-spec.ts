import { loadMessagingSettings } from '@app/messaging/config';
import { buildTopology, declareTopology } from '@app/messaging/topology';
import { startApp, stopAll, waitForReady } from '../support/app-process';
import { postMessage } from '../support/http';
import { assertExactlyOnce, processedCounts } from '../support/processed';
import { queueState } from '../support/queue-state';
import { queueInfo } from '../support/rabbitmqctl';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';

/**
 * The topology is declared object by object, tolerating what it cannot change: a queue that exists
 * with other arguments (here the classic DLQ of a deployment from before the DLQ became a quorum
 * queue) is kept and used, and the rest of the topology is declared around it. Before, one refused
 * declaration failed golevelup's whole connection setup and the publisher's channel: the apps stayed
 * off the broker.
 */
const DLQ = 'messaging.consumer.dlq';
const MESSAGES = 100;

describe('topology declaration that tolerates what it cannot change', () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await createTestEnv('topology');
    const connection = await env.amqp();
    const channel = await connection.createChannel();
    await channel.assertQueue(DLQ, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    await channel.close();
  });

  afterAll(async () => {
    await stopAll();
    await env?.cleanup();
  });

  it('keeps a queue that exists with other arguments and declares everything else', async () => {
    const topology = buildTopology(loadMessagingSettings({}));
    const { failures, kept } = await declareTopology(await env.amqp(), topology);
    expect(failures).toEqual([]);
    expect(kept.map((entry) => entry.object)).toEqual([`queue ${DLQ}`]);
    for (const queue of topology.queues) expect(await queueState(env, queue.name)).toBeDefined();
    expect(await queueInfo(env.vhost, DLQ, 'type')).toMatchObject({ type: 'classic' });
  });

  it('runs both apps on it: every message processed once, a poison message dead-lettered to the kept DLQ', async () => {
    const [producer, consumer] = await Promise.all([startApp('producer', appEnv(env)), startApp('consumer', appEnv(env))]);
    await Promise.all([waitForReady(producer), waitForReady(consumer)]);
    const ids: string[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const response = await postMessage(producer.url(''), { type: 'topology.test', payload: { i } });
      expect(response.status).toBe(202);
      ids.push((response.body as { id: string }).id);
    }
    await waitFor(
      async () => {
        const counts = await processedCounts(env.redis);
        return ids.every((id) => counts.has(id));
      },
      { timeoutMs: 30_000, description: `${MESSAGES} messages to be processed` },
    );
    expect(assertExactlyOnce(await processedCounts(env.redis), ids)).toEqual({ lost: [], duplicated: [] });

    const channel = await (await env.amqp()).createConfirmChannel();
    await new Promise<void>((resolve, reject) =>
      channel.publish(
        'messaging.events',
        'topology.poison',
        Buffer.from('not an envelope'),
        { persistent: true, messageId: 'poison-1' },
        (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
      ),
    );
    await waitFor(async () => (await queueState(env, DLQ))?.ready === 1, {
      timeoutMs: 20_000,
      description: 'the poison message in the kept DLQ',
    });
  });
});
