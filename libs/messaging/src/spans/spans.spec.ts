import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { ConsumeMessage } from 'amqplib';
import type { WireMessage } from '../envelope';
import { endingDeliverySpans, noteDeliveryFailure, noteDeliveryResult, traceDelivery } from './delivery-span';
import { tracePublish, traceReplay } from './publish-span';

/** The spans with an SDK registered: an in-memory exporter, W3C propagation, async context. */
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
afterAll(() => provider.shutdown());
beforeEach(() => exporter.reset());

const EXCHANGE = 'messaging.events';
const message: WireMessage = { id: 'm-1', type: 'order.created', body: Buffer.from('{"a":1}'), correlationId: 'order-42' };
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PUBLISH_SPAN_ID = 'b7ad6b7169203331';

function deliveryWith(headers: Record<string, unknown>): ConsumeMessage {
  return {
    content: Buffer.from('{}'),
    fields: { exchange: EXCHANGE, routingKey: 'order.created', deliveryTag: 7, redelivered: false },
    properties: { headers, correlationId: undefined },
  } as unknown as ConsumeMessage;
}
const finished = (name: string) => exporter.getFinishedSpans().filter((span) => span.name === name);

describe('tracePublish', () => {
  it('opens a PRODUCER span under the active one, with the messaging attributes, whose context the sent message carries', async () => {
    const request = trace.getTracer('test').startSpan('POST /messages');
    let sent: WireMessage | undefined;
    await context.with(trace.setSpan(context.active(), request), () =>
      tracePublish(message, EXCHANGE, (traced) => {
        sent = traced;
        return Promise.resolve('pending' as const);
      }),
    );
    request.end();
    const [publish] = finished(`publish ${EXCHANGE}`);
    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(publish.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(publish.attributes).toEqual(
      expect.objectContaining({
        'messaging.system': 'rabbitmq',
        'messaging.destination.name': EXCHANGE,
        'messaging.message.id': 'm-1',
        'messaging.message.conversation_id': 'order-42',
        'reliable_messaging.publish.status': 'pending',
      }),
    );
    expect(publish.events.map((event) => event.name)).toEqual(['stored in the outbox for replay']);
    const { traceId, spanId } = publish.spanContext();
    expect(sent?.trace).toEqual({ traceparent: `00-${traceId}-${spanId}-01` });
    expect(message.trace).toBeUndefined();
  });

  it('marks the span failed when the send throws, and throws on', async () => {
    await expect(tracePublish(message, EXCHANGE, () => Promise.reject(new TypeError('no way')))).rejects.toThrow('no way');
    const [publish] = finished(`publish ${EXCHANGE}`);
    expect(publish.status).toEqual({ code: SpanStatusCode.ERROR, message: 'no way' });
    expect(publish.attributes['error.type']).toBe('TypeError');
  });
});

describe('traceReplay', () => {
  it('opens a root span linked to the stored context, and leaves the stored context on the message', async () => {
    const stored = { ...message, trace: { traceparent: `00-${TRACE_ID}-${PUBLISH_SPAN_ID}-01` } };
    await traceReplay(stored, EXCHANGE, () => Promise.resolve());
    const [replay] = finished(`publish ${EXCHANGE}`);
    expect(replay.parentSpanContext).toBeUndefined();
    expect(replay.spanContext().traceId).not.toBe(TRACE_ID);
    expect(replay.links.map((link) => [link.context.traceId, link.context.spanId])).toEqual([[TRACE_ID, PUBLISH_SPAN_ID]]);
    expect(replay.attributes['reliable_messaging.outbox.replay']).toBe(true);
    expect(stored.trace).toEqual({ traceparent: `00-${TRACE_ID}-${PUBLISH_SPAN_ID}-01` });
  });
});

describe('traceDelivery', () => {
  const traceparent = `00-${TRACE_ID}-${PUBLISH_SPAN_ID}-01`;

  it('continues the context of the AMQP headers (string or bytes) in a CONSUMER span, with the result the guard gave', async () => {
    for (const header of [traceparent, Buffer.from(traceparent)]) {
      exporter.reset();
      await traceDelivery('m-1', deliveryWith({ traceparent: header, 'x-attempt': 2, 'x-correlation-id': 'order-42' }), () => {
        noteDeliveryResult('duplicate');
        return Promise.resolve();
      });
      const [span] = finished(`process ${EXCHANGE}`);
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect([span.spanContext().traceId, span.parentSpanContext?.spanId]).toEqual([TRACE_ID, PUBLISH_SPAN_ID]);
      expect(span.attributes).toEqual(
        expect.objectContaining({
          'messaging.operation.type': 'process',
          'messaging.rabbitmq.message.delivery_tag': 7,
          'messaging.message.conversation_id': 'order-42',
          'reliable_messaging.attempt': 2,
          'reliable_messaging.result': 'duplicate',
        }),
      );
      expect(span.events.map((event) => event.name)).toEqual(['duplicate absorbed by the idempotency guard']);
    }
  });

  it('keeps a failed delivery span open until the failure router has routed it, with what the router did', async () => {
    const delivery = deliveryWith({ traceparent });
    await expect(traceDelivery('m-1', delivery, () => Promise.reject(new Error('handler failed')))).rejects.toThrow();
    expect(finished(`process ${EXCHANGE}`)).toEqual([]);
    const router = endingDeliverySpans((_channel: unknown, routed: ConsumeMessage) => {
      noteDeliveryFailure(routed, 'retry scheduled', { 'reliable_messaging.retry.attempt': 2 });
      return Promise.resolve();
    });
    await router(undefined, delivery, new Error('handler failed'));
    const [span] = finished(`process ${EXCHANGE}`);
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.events.map((event) => event.name)).toEqual(['exception', 'retry scheduled']);
    // Routed once: a second call (another failure of the same delivery object) ends nothing twice.
    await router(undefined, delivery, new Error('again'));
    expect(finished(`process ${EXCHANGE}`)).toHaveLength(1);
  });
});
