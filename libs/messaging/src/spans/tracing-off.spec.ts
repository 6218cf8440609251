import type { ConsumeMessage } from 'amqplib';
import type { WireMessage } from '../envelope';
import { noteDeliveryResult, traceDelivery } from './delivery-span';
import { tracePublish, traceReplay } from './publish-span';

/**
 * Without an SDK (tracing off, the default) the spans are no-ops: the message is sent as it is (no
 * trace headers, nothing stored with an outbox record), and the handling runs as it is.
 */
const message: WireMessage = { id: 'm-1', type: 'order.created', body: Buffer.from('{}'), correlationId: 'c-1' };
const delivery = {
  content: Buffer.from('{}'),
  fields: { exchange: 'messaging.events', routingKey: 'order.created', deliveryTag: 1, redelivered: false },
  properties: { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } },
} as unknown as ConsumeMessage;

describe('spans with tracing off', () => {
  it('send the very message they were given, without a trace context', async () => {
    const sent: WireMessage[] = [];
    await tracePublish(message, 'messaging.events', (traced) => {
      sent.push(traced);
      return Promise.resolve('published' as const);
    });
    expect(sent).toEqual([message]);
    expect(sent[0]).toBe(message);
    await expect(traceReplay(message, 'messaging.events', () => Promise.resolve('ok'))).resolves.toBe('ok');
  });

  it('run the handling as it is, and pass its failure on', async () => {
    const handled = jest.fn(() => {
      noteDeliveryResult('duplicate');
      return Promise.resolve();
    });
    await traceDelivery('m-1', delivery, handled);
    expect(handled).toHaveBeenCalledTimes(1);
    await expect(traceDelivery('m-1', delivery, () => Promise.reject(new Error('handler failed')))).rejects.toThrow('handler failed');
  });
});
