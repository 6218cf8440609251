import type { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { loadMessagingSettings } from '../config';
import { MessagingMetrics, QUEUE_READ_TIMEOUT_MS } from '../metrics';
import { DEPTHS_MAX_AGE_MS, QueueDepthMetrics } from './queue-depth-metrics';

/** A broker connection that answers passive declares from a table; a queue it does not hold is a 404 that closes the channel. */
function fakeConnection(depths: Map<string, number>) {
  const calls = { channels: 0 };
  const connection = {
    createChannel: () => {
      calls.channels++;
      let open = true;
      return Promise.resolve({
        on: () => undefined,
        close: () => Promise.resolve(),
        checkQueue: (queue: string) => {
          if (!open) return Promise.reject(new Error('channel closed'));
          const messageCount = depths.get(queue);
          if (messageCount === undefined) {
            open = false;
            return Promise.reject(new Error(`Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "no queue '${queue}'"`));
          }
          return Promise.resolve({ queue, messageCount, consumerCount: 1 });
        },
      });
    },
  };
  return { amqp: { managedConnection: { connection } } as unknown as AmqpConnection, calls };
}

describe('QueueDepthMetrics', () => {
  const settings = loadMessagingSettings({});
  const line = (queue: string, role: string, value: number) => `messaging_queue_messages{queue="${queue}",role="${role}"} ${value}`;

  it('reports the depth of the work queue, the DLQ and the delay queues, and leaves out a queue the broker does not have', async () => {
    const depths = new Map([
      ['messaging.consumer', 7],
      ['messaging.consumer.dlq', 2],
    ]);
    const { amqp } = fakeConnection(depths);
    const metrics = new MessagingMetrics();
    new QueueDepthMetrics(amqp, metrics, settings).onModuleInit();
    const text = await metrics.render();
    expect(text).toContain(line('messaging.consumer', 'work', 7));
    expect(text).toContain(line('messaging.consumer.dlq', 'dead letters', 2));
    expect(text).not.toContain('role="retry delay"');
  });

  it('reads the broker once for the scrapes within DEPTHS_MAX_AGE_MS, and again after it', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const depths = new Map([
        ['messaging.consumer', 1],
        ['messaging.consumer.dlq', 0],
      ]);
      const { amqp, calls } = fakeConnection(depths);
      const metrics = new MessagingMetrics();
      new QueueDepthMetrics(amqp, metrics, settings).onModuleInit();
      await Promise.all([metrics.render(), metrics.render()]);
      expect(await metrics.render()).toContain(line('messaging.consumer', 'work', 1));
      const afterOneRead = { ...calls };
      depths.set('messaging.consumer', 5);
      jest.setSystemTime(1_000_000 + DEPTHS_MAX_AGE_MS);
      expect(await metrics.render()).toContain(line('messaging.consumer', 'work', 5));
      expect(afterOneRead.channels).toBeGreaterThan(0);
      expect(calls.channels).toBe(afterOneRead.channels * 2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('starts no second read while one is unanswered (a blocked or stalled connection), whatever its age', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      let opened = 0;
      const connection = { createChannel: () => (opened++, new Promise(() => undefined)) };
      const amqp = { managedConnection: { connection } } as unknown as AmqpConnection;
      const metrics = new MessagingMetrics();
      new QueueDepthMetrics(amqp, metrics, settings).onModuleInit();
      for (let scrape = 0; scrape < 5; scrape++) {
        const text = metrics.render();
        await jest.advanceTimersByTimeAsync(QUEUE_READ_TIMEOUT_MS + DEPTHS_MAX_AGE_MS);
        expect(await text).not.toMatch(/^messaging_queue_messages\{/m);
      }
      expect(opened).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('reports no series while the broker connection is down', async () => {
    const metrics = new MessagingMetrics();
    const amqp = { managedConnection: { connection: undefined } } as unknown as AmqpConnection;
    new QueueDepthMetrics(amqp, metrics, settings).onModuleInit();
    expect(await metrics.render()).not.toMatch(/^messaging_queue_messages\{/m);
  });
});
