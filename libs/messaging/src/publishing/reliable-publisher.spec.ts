import { Logger } from '@nestjs/common';
import { loadMessagingSettings } from '../config';
import { MessagingMetrics } from '../metrics';
import type { OutboxStore } from '../outbox';
import type { ConfirmedPublisher } from './confirmed-publisher';
import { MessageNotAcceptedError, PublishFailedError } from './publish-errors';
import { ReliablePublisher } from './reliable-publisher.service';

/** The publisher's decisions only: a broker whose answer the test sets and an in-memory outbox. */
function publisherWith(answer: () => Promise<void>) {
  const lateConfirmListeners: ((id: string) => void)[] = [];
  const broker = {
    publish: jest.fn(answer),
    onLateConfirm: (listener: (id: string) => void) => lateConfirmListeners.push(listener),
  };
  const stored: { id: string; reason: string }[] = [];
  const removals: string[][] = [];
  const outbox = {
    store: jest.fn((message: { id: string }, reason: string) => {
      stored.push({ id: message.id, reason });
      return Promise.resolve();
    }),
    remove: jest.fn((ids: string[]) => {
      removals.push(ids);
      return Promise.resolve();
    }),
  };
  const metrics = new MessagingMetrics();
  const publisher = new ReliablePublisher(
    broker as unknown as ConfirmedPublisher,
    outbox as unknown as OutboxStore,
    metrics,
    loadMessagingSettings({ LOG_LEVEL: 'warn' }),
  );
  const confirmLate = (id: string) => lateConfirmListeners.forEach((listener) => listener(id));
  return { publisher, broker, outbox, stored, removals, metrics, confirmLate };
}

const wire = (id: string) => ({ id, type: 'order.created', body: Buffer.from('{}') });
const failedCount = async (metrics: MessagingMetrics) => {
  const line = (await metrics.render()).split('\n').find((l) => l.startsWith('messaging_publish_confirm_seconds_count{outcome="failed"}'));
  return Number(line?.split(' ')[1] ?? 0);
};

beforeAll(() => Logger.overrideLogger(false));

describe('ReliablePublisher', () => {
  it('answers published on the confirm', async () => {
    const { publisher, stored } = publisherWith(() => Promise.resolve());
    expect(await publisher.publishWire(wire('m-1'))).toBe('published');
    expect(stored).toEqual([]);
  });

  it('stores a message the broker refused before sending (blocked) in the outbox, with the reason, measuring no confirm', async () => {
    const { publisher, stored, metrics } = publisherWith(() =>
      Promise.reject(new PublishFailedError('blocked', 'm-1', 'broker connection blocked: low on memory')),
    );
    expect(await publisher.publishWire(wire('m-1'))).toBe('pending');
    expect(stored).toEqual([{ id: 'm-1', reason: expect.stringContaining('broker connection blocked: low on memory') }]);
    expect(await failedCount(metrics)).toBe(0);
  });

  it('stores a message whose confirm timed out, measuring the failed confirm', async () => {
    const { publisher, stored, metrics } = publisherWith(() => Promise.reject(new PublishFailedError('timeout', 'm-1', '2000 ms')));
    expect(await publisher.publishWire(wire('m-1'))).toBe('pending');
    expect(stored).toHaveLength(1);
    expect(await failedCount(metrics)).toBe(1);
  });

  it('refuses when neither the broker nor the outbox takes the message', async () => {
    const { publisher, outbox } = publisherWith(() =>
      Promise.reject(new PublishFailedError('not-connected', 'm-1', 'broker not connected')),
    );
    outbox.store.mockImplementation(() => Promise.reject(new Error('OOM')));
    await expect(publisher.publishWire(wire('m-1'))).rejects.toBeInstanceOf(MessageNotAcceptedError);
  });

  it('removes the outbox copies of messages confirmed after their timeout, in one call per burst', async () => {
    const { removals, confirmLate } = publisherWith(() => Promise.resolve());
    confirmLate('m-1');
    confirmLate('m-2');
    confirmLate('m-3');
    expect(removals).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(removals).toEqual([['m-1', 'm-2', 'm-3']]);
    confirmLate('m-4');
    await new Promise((resolve) => setImmediate(resolve));
    expect(removals).toEqual([['m-1', 'm-2', 'm-3'], ['m-4']]);
  });
});
