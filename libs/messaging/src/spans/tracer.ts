import { trace, type Span, SpanStatusCode } from '@opentelemetry/api';

/**
 * The library's tracer, from @opentelemetry/api only: without an SDK registered (tracing off, the
 * default) every span it starts is a non-recording no-op, and the callers below skip the rest of
 * their work on it, so tracing off costs a method call per message (BENCHMARKS.md).
 */
export const tracer = trace.getTracer('nest-reliable-messaging');

/** Marks a span failed with the error, as the conventions ask (`error.type`, an exception event). */
export function recordFailure(span: Span, error: unknown): void {
  const failure = error instanceof Error ? error : new Error(String(error));
  span.recordException(failure);
  span.setAttribute('error.type', failure.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
}
