import type { ChannelModel } from 'amqplib';
import { SharedQueueStates } from './shared-queue-states';

const work = { name: 'orders', role: 'work' };
const letters = { name: 'orders.dlq', role: 'dead letters' };

/** A connection whose channels answer passive declares once `answer()` is called (never, for a blocked connection). */
function controlledConnection() {
  const waiting: (() => void)[] = [];
  let opened = 0;
  const connection = {
    createChannel: () => {
      opened++;
      return new Promise((resolve) =>
        waiting.push(() =>
          resolve({
            on: () => undefined,
            close: () => Promise.resolve(),
            checkQueue: (queue: string) => Promise.resolve({ queue, messageCount: 3, consumerCount: 1 }),
          }),
        ),
      );
    },
  } as unknown as ChannelModel;
  return {
    connection,
    opened: () => opened,
    answer: () => waiting.splice(0).forEach((open) => open()),
  };
}

describe('SharedQueueStates', () => {
  afterEach(() => jest.useRealTimers());

  it('shares a read still unanswered, whatever its age, and answers each caller within the timeout', async () => {
    jest.useFakeTimers();
    const broker = controlledConnection();
    const reads = new SharedQueueStates(() => broker.connection, undefined, 2000);
    for (let poll = 0; poll < 5; poll++) {
      const states = reads.read([work, letters]);
      await jest.advanceTimersByTimeAsync(2000);
      expect(await states).toEqual([
        { ...work, error: expect.stringContaining('no answer from the broker within 2000 ms') },
        { ...letters, error: expect.stringContaining('no answer from the broker within 2000 ms') },
      ]);
    }
    expect(broker.opened()).toBe(1);
    expect(reads.unanswered).toBe(1);

    broker.answer();
    await jest.advanceTimersByTimeAsync(0);
    expect(reads.unanswered).toBe(0);
  });

  it('starts a new read once the last one was answered', async () => {
    const broker = controlledConnection();
    const reads = new SharedQueueStates(() => broker.connection, undefined, 2000);
    const first = reads.read([work]);
    const shared = reads.read([work]);
    broker.answer();
    expect(await first).toEqual([{ ...work, messages: 3, consumers: 1 }]);
    expect(await shared).toEqual([{ ...work, messages: 3, consumers: 1 }]);
    expect(broker.opened()).toBe(1);

    const next = reads.read([work]);
    await Promise.resolve();
    broker.answer();
    await next;
    expect(broker.opened()).toBe(2);
  });

  it('does not share a read between different queue lists', async () => {
    const broker = controlledConnection();
    const reads = new SharedQueueStates(() => broker.connection, undefined, 2000);
    const both = reads.read([work, letters]);
    const one = reads.read([letters]);
    expect(reads.unanswered).toBe(2);
    broker.answer();
    expect((await both).map((state) => state.name)).toEqual(['orders', 'orders.dlq']);
    expect((await one).map((state) => state.name)).toEqual(['orders.dlq']);
  });

  it('reports every queue as not connected while there is no connection', async () => {
    const reads = new SharedQueueStates(() => undefined, undefined, 2000);
    expect(await reads.read([work])).toEqual([{ ...work, error: 'not connected to the broker' }]);
  });
});
