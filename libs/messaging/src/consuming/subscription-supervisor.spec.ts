import { AmqpConnection, Nack } from '@golevelup/nestjs-rabbitmq';
import { Logger } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import type { Channel } from 'amqplib';
import { loadMessagingSettings } from '../config';
import { MessagingMetrics } from '../metrics';
import { TopologyKeeper } from '../topology';
import { SubscriptionSupervisor } from './subscription-supervisor';

type Handler = (message: unknown) => Promise<unknown>;

/** A raw channel: consumer tags it was asked to cancel, and the events the broker would cause. */
class FakeChannel extends EventEmitter {
  readonly cancelled: string[] = [];
  cancel(tag: string): Promise<void> {
    this.cancelled.push(tag);
    return Promise.resolve();
  }
}

/** golevelup 9's AmqpConnection, reduced to what the supervisor wraps and reads. */
function fakeAmqp() {
  const setups: ((channel: Channel) => void)[] = [];
  const registered: string[] = [];
  const subscribers: Handler[] = [];
  const wrapper = {
    addSetup: (setup: (channel: Channel) => void) => (setups.push(setup), Promise.resolve()),
    _onConnect: () => Promise.resolve(),
    _channel: undefined as { close(): Promise<void> } | undefined,
  };
  const amqp = {
    managedConnection: Object.assign(new EventEmitter(), { connection: undefined as object | undefined }),
    managedChannels: { AmqpConnection: wrapper },
    managedChannel: wrapper,
    createSubscriber: (handler: Handler) => (subscribers.push(handler), Promise.resolve({ consumerTag: 'ctag-1' })),
    registerConsumerForQueue: (consumer: { consumerTag: string }) => registered.push(consumer.consumerTag),
    unregisterConsumerForQueue: (tag: string) => registered.splice(registered.indexOf(tag), 1),
    resumeConsumer: () => Promise.resolve('ctag-2'),
  };
  return { amqp, wrapper, setups, registered, subscribers };
}

function setUp() {
  const fake = fakeAmqp();
  const supervisor = new SubscriptionSupervisor(
    fake.amqp as unknown as AmqpConnection,
    new TopologyKeeper(loadMessagingSettings({})),
    new MessagingMetrics(),
  );
  supervisor.onModuleInit();
  const internals = fake.amqp as unknown as {
    createSubscriber(handler: Handler, options: { queue: string }, name: string): Promise<unknown>;
    registerConsumerForQueue(consumer: unknown): void;
  };
  const channel = new FakeChannel();
  fake.setups.forEach((setup) => setup(channel as unknown as Channel));
  const create = (handler: Handler) => internals.createSubscriber(handler, { queue: 'work' }, 'handle');
  const consume = () =>
    internals.registerConsumerForQueue({ type: 'subscribe', consumerTag: 'ctag-1', msgOptions: { queue: 'work' }, channel });
  const subscribe = async (handler: Handler) => {
    await create(handler);
    consume();
  };
  return { ...fake, supervisor, channel, create, consume, subscribe };
}

describe('SubscriptionSupervisor', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']));

  it('relies on golevelup 9 internals that exist', () => {
    const prototype = AmqpConnection.prototype as unknown as Record<string, unknown>;
    for (const name of ['createSubscriber', 'registerConsumerForQueue', 'unregisterConsumerForQueue', 'resumeConsumer']) {
      expect(typeof prototype[name]).toBe('function');
    }
  });

  it('drops frames for a channel number amqplib has released, instead of letting it close the connection', () => {
    const { amqp } = setUp();
    const accepted: unknown[] = [];
    const inner = { channels: [{}, {}], accept: (frame: unknown) => accepted.push(frame) };
    amqp.managedConnection.emit('connect', { connection: { connection: inner } });
    const frames = [{ channel: 0 }, { channel: 1 }, { channel: 2 }, { channel: 7 }];
    frames.forEach((frame) => inner.accept(frame));
    expect(accepted).toEqual([{ channel: 0 }, { channel: 1 }]);
  });

  it('is not ready until the subscription has a consumer, then ready', async () => {
    const { supervisor, create, consume } = setUp();
    await create(() => Promise.resolve());
    expect(supervisor.state()).toEqual({ up: false, detail: 'no active consumer on work (not subscribed yet)' });
    consume();
    expect(supervisor.state()).toEqual({ up: true });
  });

  it('is not ready after a broker cancel, naming the queue, and listens for channel errors', async () => {
    const { supervisor, channel, subscribe } = setUp();
    await subscribe(() => Promise.resolve());
    expect(channel.listenerCount('error')).toBeGreaterThan(0);
    channel.emit('cancel', { consumerTag: 'ctag-1' });
    expect(supervisor.state()).toEqual({
      up: false,
      detail: expect.stringMatching(/^no active consumer on work \(consumer cancelled by the broker/),
    });
    await supervisor.stopConsuming();
  });

  it('is not ready after the channel closed', async () => {
    const { supervisor, channel, subscribe, registered } = setUp();
    await subscribe(() => Promise.resolve());
    channel.emit('error', new Error('PRECONDITION_FAILED - delivery acknowledgement timed out'));
    channel.emit('close');
    expect(supervisor.state().detail).toMatch(/channel closed by the broker: PRECONDITION_FAILED/);
    expect(registered).toEqual([]);
    await supervisor.stopConsuming();
  });

  it('at stop cancels every consumer by its tag, and hands back a delivery that arrives afterwards without running it', async () => {
    const { supervisor, channel, subscribe, subscribers } = setUp();
    const ran: unknown[] = [];
    await subscribe((message) => (ran.push(message), Promise.resolve()));
    await subscribers[0]('before');
    await supervisor.stopConsuming();
    expect(channel.cancelled).toEqual(['ctag-1']);
    const response = await subscribers[0]('after');
    expect(response).toBeInstanceOf(Nack);
    expect((response as Nack).requeue).toBe(true);
    expect(ran).toEqual(['before']);
    expect(supervisor.state()).toEqual({ up: false, detail: 'stopping: consumers cancelled' });
  });

  it('recycles the channel of a subscription left without a consumer while connected (a setup that never completed)', async () => {
    jest.useFakeTimers();
    try {
      const { supervisor, amqp, wrapper, create } = setUp();
      const close = jest.fn(() => Promise.resolve());
      wrapper._channel = { close };
      amqp.managedConnection.connection = {};
      await create(() => Promise.resolve());
      jest.advanceTimersByTime(5_000);
      expect(close).not.toHaveBeenCalled();
      jest.advanceTimersByTime(10_000);
      expect(close).toHaveBeenCalledTimes(1);
      // The recovery gets its own stall time before the check acts again.
      jest.advanceTimersByTime(4_000);
      expect(close).toHaveBeenCalledTimes(1);
      await supervisor.stopConsuming();
    } finally {
      jest.useRealTimers();
    }
  });

  it('leaves a subscription without a consumer alone while the connection is down (the reconnect resubscribes)', async () => {
    jest.useFakeTimers();
    try {
      const { supervisor, wrapper, create } = setUp();
      const close = jest.fn(() => Promise.resolve());
      wrapper._channel = { close };
      await create(() => Promise.resolve());
      jest.advanceTimersByTime(30_000);
      expect(close).not.toHaveBeenCalled();
      await supervisor.stopConsuming();
    } finally {
      jest.useRealTimers();
    }
  });

  it('does not open a second channel when a reconnect opened one while it declared the topology', async () => {
    jest.useFakeTimers();
    try {
      const { supervisor, amqp, wrapper, channel, subscribe } = setUp();
      const onConnect = jest.spyOn(wrapper, '_onConnect');
      await subscribe(() => Promise.resolve());
      amqp.managedConnection.connection = {};
      channel.emit('close');
      // The reopen is due: it starts declaring the topology; meanwhile the reconnect opens the channel.
      jest.advanceTimersByTime(500);
      wrapper._channel = { close: () => Promise.resolve() };
      await jest.advanceTimersByTimeAsync(100);
      expect(onConnect).not.toHaveBeenCalled();
      await supervisor.stopConsuming();
    } finally {
      jest.useRealTimers();
    }
  });
});
