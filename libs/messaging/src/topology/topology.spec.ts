import { DEFAULT_SUBSCRIPTION, loadMessagingSettings, type MessagingSettings } from '../config';
import {
  assertTopology,
  buildTopology,
  DLQ_DELIVERY_LIMIT,
  retryDelayMs,
  retryQueueName,
  topologyOf,
  type QueueDeclaration,
} from './topology';

function settingsWith(env: NodeJS.ProcessEnv = {}): MessagingSettings {
  return loadMessagingSettings({
    MESSAGING_EXCHANGE: 'ex.events',
    MESSAGING_QUEUE: 'work',
    MESSAGING_DLQ: 'work.dlq',
    MESSAGING_DEAD_LETTER_EXCHANGE: 'ex.dead',
    ...env,
  });
}

function queueNamed(queues: QueueDeclaration[], name: string): QueueDeclaration {
  const queue = queues.find((q) => q.name === name);
  if (!queue) throw new Error(`no queue ${name} in ${queues.map((q) => q.name).join(', ')}`);
  return queue;
}

describe('retryDelayMs', () => {
  it('doubles from the base per failed attempt', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, 1000, 1_000_000))).toEqual([1000, 2000, 4000, 8000, 16000]);
  });

  it('is capped at the maximum', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, 1000, 5000))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(retryDelayMs(60, 1000, 60_000)).toBe(60_000);
  });

  it('never exceeds the maximum even when the base equals it', () => {
    expect(retryDelayMs(1, 500, 500)).toBe(500);
    expect(retryDelayMs(3, 500, 500)).toBe(500);
  });
});

describe('retryQueueName', () => {
  it('names the delay queue after the work queue and its delay', () => {
    expect(retryQueueName('work', 4000)).toBe('work.retry.4000ms');
  });
});

describe('buildTopology', () => {
  it('declares the topic exchange and the direct dead-letter exchange from settings, durable', () => {
    const topology = buildTopology(settingsWith());
    expect(topology.exchanges).toEqual([
      { name: 'ex.events', type: 'topic', options: { durable: true } },
      { name: 'ex.dead', type: 'direct', options: { durable: true } },
    ]);
  });

  it('declares the work queue as a quorum queue that dead-letters at least once to the DLX', () => {
    const topology = buildTopology(settingsWith({ CONSUMER_DELIVERY_LIMIT: '7' }));
    const work = queueNamed(topology.queues, 'work');
    expect(work).toEqual({
      name: 'work',
      options: {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-dead-letter-exchange': 'ex.dead',
          'x-dead-letter-routing-key': 'work',
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
          'x-delivery-limit': 7,
        },
      },
      bindings: [{ exchange: 'ex.events', routingKey: '#' }],
    });
  });

  it('binds the DLQ (a quorum queue, on no single node, whose delivery limit listings never reach) to the DLX with the work queue as routing key', () => {
    const dlq = queueNamed(buildTopology(settingsWith()).queues, 'work.dlq');
    expect(dlq).toEqual({
      name: 'work.dlq',
      options: { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': DLQ_DELIVERY_LIMIT } },
      bindings: [{ exchange: 'ex.dead', routingKey: 'work' }],
    });
  });

  it('has maxAttempts - 1 retry queues with doubling delays', () => {
    const topology = buildTopology(
      settingsWith({ CONSUMER_MAX_ATTEMPTS: '5', CONSUMER_RETRY_BASE_DELAY_MS: '1000', CONSUMER_RETRY_MAX_DELAY_MS: '3600000' }),
    );
    expect(topology.retryQueues).toEqual(['work.retry.1000ms', 'work.retry.2000ms', 'work.retry.4000ms', 'work.retry.8000ms']);
    expect(topology.queues.map((q) => q.name)).toEqual([
      'work',
      'work.dlq',
      'work.retry.1000ms',
      'work.retry.2000ms',
      'work.retry.4000ms',
      'work.retry.8000ms',
    ]);
  });

  it('caps the delays and declares a capped delay queue once', () => {
    const topology = buildTopology(
      settingsWith({ CONSUMER_MAX_ATTEMPTS: '7', CONSUMER_RETRY_BASE_DELAY_MS: '1000', CONSUMER_RETRY_MAX_DELAY_MS: '5000' }),
    );
    expect(topology.retryQueues).toEqual([
      'work.retry.1000ms',
      'work.retry.2000ms',
      'work.retry.4000ms',
      'work.retry.5000ms',
      'work.retry.5000ms',
      'work.retry.5000ms',
    ]);
    const names = topology.queues.map((q) => q.name);
    expect(names.filter((n) => n === 'work.retry.5000ms')).toHaveLength(1);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toHaveLength(2 + 4);
    for (const retryQueue of topology.retryQueues) expect(names).toContain(retryQueue);
  });

  it('makes each delay queue hold for its TTL and dead-letter through the default exchange to the work queue', () => {
    const topology = buildTopology(settingsWith({ CONSUMER_MAX_ATTEMPTS: '3', CONSUMER_RETRY_BASE_DELAY_MS: '250' }));
    for (const delay of [250, 500]) {
      const queue = queueNamed(topology.queues, `work.retry.${delay}ms`);
      expect(queue.bindings).toEqual([]);
      expect(queue.options).toEqual({
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': 'work',
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
          'x-message-ttl': delay,
        },
      });
    }
  });

  it('has no retry queues when a single attempt is allowed', () => {
    const topology = buildTopology(settingsWith({ CONSUMER_MAX_ATTEMPTS: '1' }));
    expect(topology.retryQueues).toEqual([]);
    expect(topology.queues.map((q) => q.name)).toEqual(['work', 'work.dlq']);
  });

  it('uses the default names and limits when nothing is configured', () => {
    const topology = buildTopology(loadMessagingSettings({}));
    expect(topology.exchanges.map((e) => e.name)).toEqual(['messaging.events', 'messaging.dead-letter']);
    expect(topology.retryQueues).toEqual([
      'messaging.consumer.retry.1000ms',
      'messaging.consumer.retry.2000ms',
      'messaging.consumer.retry.4000ms',
      'messaging.consumer.retry.8000ms',
    ]);
    expect(queueNamed(topology.queues, 'messaging.consumer').options.arguments['x-delivery-limit']).toBe(100);
  });
});

describe('assertTopology', () => {
  it('asserts exchanges, then queues, and binds only the queues that name an exchange', async () => {
    const calls: string[] = [];
    const channel = {
      assertExchange: jest.fn((name: string, type: string) => Promise.resolve(void calls.push(`exchange ${name} ${type}`))),
      assertQueue: jest.fn((name: string) => Promise.resolve(void calls.push(`queue ${name}`))),
      bindQueue: jest.fn((queue: string, exchange: string, key: string) =>
        Promise.resolve(void calls.push(`bind ${queue} ${exchange} ${key}`)),
      ),
    };
    const topology = buildTopology(settingsWith({ CONSUMER_MAX_ATTEMPTS: '2', CONSUMER_RETRY_BASE_DELAY_MS: '100' }));
    await assertTopology(channel as never, topology);
    expect(calls).toEqual([
      'exchange ex.events topic',
      'exchange ex.dead direct',
      'queue work',
      'bind work ex.events #',
      'queue work.dlq',
      'bind work.dlq ex.dead work',
      'queue work.retry.100ms',
    ]);
    expect(channel.assertQueue).toHaveBeenCalledWith('work', topology.queues[0].options);
  });
});

describe('buildTopology with several subscriptions', () => {
  const audit = {
    name: 'audit',
    queue: 'audit',
    bindings: ['order.*', 'invoice.paid', 'order.*'],
    deliveryLimit: 9,
    retry: { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 300 },
  };
  const topology = () => buildTopology({ ...settingsWith({ CONSUMER_MAX_ATTEMPTS: '2' }), subscriptions: [DEFAULT_SUBSCRIPTION, audit] });

  it('keeps the default subscription as it was: its queue bound with #, its DLQ and its delay queues', () => {
    const { queues, subscriptions } = topology();
    expect(queueNamed(queues, 'work').bindings).toEqual([{ exchange: 'ex.events', routingKey: '#' }]);
    expect(queueNamed(queues, 'work.dlq').bindings).toEqual([{ exchange: 'ex.dead', routingKey: 'work' }]);
    expect(subscriptions[0]).toEqual({
      name: 'messaging-consumer',
      queue: 'work',
      deadLetterQueue: 'work.dlq',
      retryQueues: ['work.retry.1000ms'],
    });
  });

  it('gives another subscription its own queue with one binding per pattern, its own DLQ and delay queues', () => {
    const { queues, subscriptions } = topology();
    const work = queueNamed(queues, 'audit');
    expect(work.bindings).toEqual([
      { exchange: 'ex.events', routingKey: 'order.*' },
      { exchange: 'ex.events', routingKey: 'invoice.paid' },
    ]);
    expect(work.options.arguments).toMatchObject({ 'x-dead-letter-routing-key': 'audit', 'x-delivery-limit': 9, 'x-queue-type': 'quorum' });
    expect(queueNamed(queues, 'audit.dlq')).toEqual({
      name: 'audit.dlq',
      options: { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': DLQ_DELIVERY_LIMIT } },
      bindings: [{ exchange: 'ex.dead', routingKey: 'audit' }],
    });
    expect(queueNamed(queues, 'audit.retry.300ms').options.arguments).toMatchObject({
      'x-message-ttl': 300,
      'x-dead-letter-routing-key': 'audit',
    });
    expect(topologyOf({ queues, subscriptions } as never, 'audit')).toEqual({
      name: 'audit',
      queue: 'audit',
      deadLetterQueue: 'audit.dlq',
      retryQueues: ['audit.retry.200ms', 'audit.retry.300ms'],
    });
  });

  it('declares the exchanges once and each queue once', () => {
    const { exchanges, queues } = topology();
    expect(exchanges.map((e) => e.name)).toEqual(['ex.events', 'ex.dead']);
    const names = queues.map((q) => q.name);
    expect(names).toEqual(['work', 'work.dlq', 'work.retry.1000ms', 'audit', 'audit.dlq', 'audit.retry.200ms', 'audit.retry.300ms']);
  });

  it('declares only the exchanges for a service with no subscription', () => {
    const empty = buildTopology({ ...settingsWith(), subscriptions: [] });
    expect(empty.queues).toEqual([]);
    expect(empty.retryQueues).toEqual([]);
    expect(empty.exchanges).toHaveLength(2);
  });

  it('names no subscription it does not have', () => {
    expect(() => topologyOf(topology(), 'nope')).toThrow('no subscription nope in the topology');
  });
});
