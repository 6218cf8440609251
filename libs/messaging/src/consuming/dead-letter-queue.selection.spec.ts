import type { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import type { GetMessage } from 'amqplib';
import { loadMessagingSettings, resolveSubscriptions } from '../config';
import { MessagingMetrics } from '../metrics';
import { TopologyKeeper } from '../topology';
import { DeadLetterQueue } from './dead-letter-queue.service';

/**
 * Which dead letters moveBack takes: the selection logic only, over an in-memory stand-in for the DLQ
 * channel (the e2e suites move real dead letters on a real broker).
 */
function fakeDlq(ids: (string | undefined)[]) {
  const queue = ids.map(
    (messageId, i) => ({ content: Buffer.from(`{"i":${i}}`), properties: { messageId, headers: {} }, fields: {} }) as unknown as GetMessage,
  );
  const published: (string | undefined)[] = [];
  const acked: (string | undefined)[] = [];
  let channelsOpened = 0;
  const channel = {
    checkQueue: () => Promise.resolve({ messageCount: queue.length }),
    get: () => Promise.resolve(queue.shift() ?? false),
    ack: (message: GetMessage) => acked.push(message.properties.messageId as string | undefined),
    publish: (_exchange: string, _queue: string, _content: Buffer, options: { messageId?: string }, done: (err: unknown) => void) => {
      published.push(options.messageId);
      setImmediate(() => done(null));
      return true;
    },
    close: () => Promise.resolve(),
    on: () => channel,
    once: () => channel,
    removeListener: () => channel,
  };
  const amqp = {
    managedConnection: {
      connection: {
        createConfirmChannel: () => {
          channelsOpened++;
          return Promise.resolve(channel);
        },
      },
    },
  } as unknown as AmqpConnection;
  const settings = loadMessagingSettings({});
  const dlq = new DeadLetterQueue(amqp, resolveSubscriptions(settings), new MessagingMetrics(), new TopologyKeeper(settings));
  return { dlq, published, acked, opened: () => channelsOpened };
}

describe('DeadLetterQueue.moveBack selection', () => {
  it('moves only the listed ids, and acknowledges only what it moved', async () => {
    const { dlq, published, acked } = fakeDlq(['a', 'b', undefined, 'c']);
    expect(await dlq.moveBack({ ids: ['c', 'a', 'not-there'] })).toEqual({ moved: ['a', 'c'] });
    expect(published).toEqual(['a', 'c']);
    expect(acked).toEqual(['a', 'c']);
  });

  it('moves every dead letter, those without an id too, for { all: true }', async () => {
    const { dlq, published } = fakeDlq(['a', undefined, 'b']);
    expect(await dlq.moveBack({ all: true })).toEqual({ moved: ['a', '(no id)', 'b'] });
    expect(published).toEqual(['a', undefined, 'b']);
  });

  it('moves nothing, and opens no channel, for an empty list', async () => {
    const { dlq, published, opened } = fakeDlq(['a', 'b']);
    expect(await dlq.moveBack({ ids: [] })).toEqual({ moved: [] });
    expect(published).toEqual([]);
    expect(opened()).toBe(0);
  });
});
