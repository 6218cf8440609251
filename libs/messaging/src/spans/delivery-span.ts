import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
} from '@opentelemetry/api';
import type { ConsumeMessage } from 'amqplib';
import { correlationIdOfDelivery, HEADERS } from '../envelope';
import { ATTR, RABBITMQ } from './message-attributes';
import { recordFailure, tracer } from './tracer';

type Headers = Record<string, unknown>;

/** AMQP header values come as strings, or Buffers for byte arrays; anything else carries no context. */
const HEADER_GETTER: TextMapGetter<Headers> = {
  keys: (headers) => Object.keys(headers),
  get: (headers, key) => {
    const value = headers[key];
    if (typeof value === 'string') return value;
    return Buffer.isBuffer(value) ? value.toString('utf8') : undefined;
  },
};

/**
 * Process spans of failed deliveries, still open: the failure router (golevelup's errorHandler, called
 * after the handler threw) records on them what it did, and `endingDeliverySpans` ends them.
 */
const awaitingRouting = new WeakMap<ConsumeMessage, Span>();

function processAttributes(delivery: ConsumeMessage, messageId: string): Attributes {
  const attempt = Number(delivery.properties.headers?.[HEADERS.attempt] ?? 1);
  return {
    [ATTR.system]: RABBITMQ,
    [ATTR.operationType]: 'process',
    [ATTR.operationName]: 'process',
    [ATTR.destination]: delivery.fields.exchange,
    [ATTR.routingKey]: delivery.fields.routingKey,
    [ATTR.deliveryTag]: delivery.fields.deliveryTag,
    [ATTR.messageId]: messageId,
    [ATTR.conversationId]: correlationIdOfDelivery(delivery.properties),
    [ATTR.bodySize]: delivery.content.length,
    [ATTR.attempt]: Number.isInteger(attempt) && attempt >= 1 ? attempt : 1,
    [ATTR.redelivered]: delivery.fields.redelivered,
  };
}

/**
 * Runs the handling of a delivery in its process span, a child of the context its AMQP headers carry
 * (the publish span, even after an outbox replay, a retry or a move back from the DLQ, whose copies
 * keep the headers). A span whose handling failed stays open for the failure router. Without a
 * delivery (a handler that does not take `@RabbitRequest()`) or a recording span (tracing off), the
 * handling runs as it is.
 */
export function traceDelivery(messageId: string, delivery: ConsumeMessage | undefined, handle: () => Promise<void>): Promise<void> {
  if (delivery === undefined) return handle();
  const parent = propagation.extract(ROOT_CONTEXT, delivery.properties.headers ?? {}, HEADER_GETTER);
  const destination = delivery.fields.exchange || delivery.fields.routingKey;
  const span = tracer.startSpan(`process ${destination}`, { kind: SpanKind.CONSUMER }, parent);
  // Not async itself: with tracing off the handling's own promise is returned, without a frame around it.
  if (!span.isRecording()) return handle();
  span.setAttributes(processAttributes(delivery, messageId));
  return inSpan(span, parent, delivery, handle);
}

async function inSpan(span: Span, parent: Context, delivery: ConsumeMessage, handle: () => Promise<void>): Promise<void> {
  try {
    await context.with(trace.setSpan(parent, span), handle);
  } catch (error) {
    recordFailure(span, error);
    awaitingRouting.set(delivery, span);
    throw error;
  }
  span.end();
}

/** Says on the active process span how the guard ended it: processed, or a duplicate it absorbed. */
export function noteDeliveryResult(result: 'processed' | 'duplicate'): void {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  span.setAttribute(ATTR.result, result);
  if (result === 'duplicate') span.addEvent('duplicate absorbed by the idempotency guard');
}

/** An event on the process span of a failed delivery (a retry scheduled, a dead letter, a hand-back). */
export function noteDeliveryFailure(delivery: ConsumeMessage, event: string, attributes?: Attributes): void {
  awaitingRouting.get(delivery)?.addEvent(event, attributes);
}

/** Wraps the failure router so that the process span of each delivery it routes ends after it. */
export function endingDeliverySpans<C>(
  router: (channel: C, delivery: ConsumeMessage, error: unknown) => Promise<void>,
): (channel: C, delivery: ConsumeMessage, error: unknown) => Promise<void> {
  return async (channel, delivery, error) => {
    try {
      await router(channel, delivery, error);
    } finally {
      awaitingRouting.get(delivery)?.end();
      awaitingRouting.delete(delivery);
    }
  };
}
