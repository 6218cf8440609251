import { context, isSpanContextValid, propagation, ROOT_CONTEXT, SpanKind, trace, type Link, type Span } from '@opentelemetry/api';
import type { WireMessage } from '../envelope';
import { ATTR, publishAttributes } from './message-attributes';
import { recordFailure, tracer } from './tracer';

/**
 * The publish span of a message sent on behalf of a caller (a POST, a ClientProxy emit): a child of
 * the active span (the HTTP request's), whose context `send` receives in `message.trace` (W3C
 * traceparent / tracestate, as the propagator writes them) to put on the AMQP headers and, for a
 * failed send, to store with the outbox record. Without a valid span (tracing off) the message is
 * sent as it is.
 */
export function tracePublish<T extends string>(
  message: WireMessage,
  exchange: string,
  send: (message: WireMessage) => Promise<T>,
): Promise<T> {
  const span = tracer.startSpan(`publish ${exchange}`, { kind: SpanKind.PRODUCER });
  // Not async itself: with tracing off the caller gets send's own promise, not one more turn of the loop.
  if (!isSpanContextValid(span.spanContext())) return send(message);
  return publishInSpan(span, message, exchange, send);
}

async function publishInSpan<T extends string>(
  span: Span,
  message: WireMessage,
  exchange: string,
  send: (message: WireMessage) => Promise<T>,
): Promise<T> {
  const active = trace.setSpan(context.active(), span);
  const carrier: Record<string, string> = {};
  propagation.inject(active, carrier);
  if (span.isRecording()) span.setAttributes(publishAttributes(message, exchange));
  try {
    const status = await context.with(active, () => send({ ...message, trace: carrier }));
    span.setAttribute(ATTR.publishStatus, status);
    if (status === 'pending') span.addEvent('stored in the outbox for replay');
    return status;
  } catch (error) {
    recordFailure(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/**
 * The replay job's publish span of an outbox record: a root of its own (the replay run is nobody's
 * request) linked to the context stored with the record, which stays on the AMQP headers, so the
 * consumer continues the trace the message started in.
 */
export function traceReplay<T>(entry: WireMessage, exchange: string, send: () => Promise<T>): Promise<T> {
  const stored = entry.trace ? trace.getSpanContext(propagation.extract(ROOT_CONTEXT, entry.trace)) : undefined;
  const links: Link[] = stored && isSpanContextValid(stored) ? [{ context: stored }] : [];
  const span = tracer.startSpan(`publish ${exchange}`, { kind: SpanKind.PRODUCER, root: true, links });
  // Not async itself, like tracePublish.
  if (!span.isRecording()) return send();
  span.setAttributes({ ...publishAttributes(entry, exchange), [ATTR.replay]: true });
  return replayInSpan(span, send);
}

async function replayInSpan<T>(span: Span, send: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(ROOT_CONTEXT, span), send);
  } catch (error) {
    recordFailure(span, error);
    throw error;
  } finally {
    span.end();
  }
}
