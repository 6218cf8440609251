import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';

/** Probes and scrapes would be most of the spans and none of the interest. */
const UNTRACED_PATHS = /^\/(health|metrics|docs)(\/|\?|$)/;

const tracer = trace.getTracer('nest-reliable-messaging-http');
const serverSpans = new WeakSet<Span>();

/**
 * A SERVER span per HTTP request, continuing the request's W3C `traceparent` (the propagator's), and
 * active for everything the request runs: the server's `request` event is emitted inside the span's
 * context, and the request and response emitters are bound to it, so the body's stream events (and
 * the handler behind them) see it too. Fastify's onRequest hook names the span by its route.
 */
export function traceHttpRequests(app: NestFastifyApplication): void {
  const server: Server = app.getHttpServer();
  const emit = server.emit.bind(server) as (event: string, ...args: unknown[]) => boolean;
  server.emit = function (event: string, ...args: unknown[]): boolean {
    if (event !== 'request') return emit(event, ...args);
    const [request, response] = args as [IncomingMessage, ServerResponse];
    if (UNTRACED_PATHS.test(request.url ?? '/')) return emit(event, ...args);
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const method = request.method ?? 'GET';
    const span = tracer.startSpan(
      method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': method,
          'url.path': (request.url ?? '/').split('?')[0],
          'url.scheme': 'http',
          'server.port': request.socket.localPort,
          'network.peer.address': request.socket.remoteAddress,
          'user_agent.original': request.headers['user-agent'],
        },
      },
      parent,
    );
    serverSpans.add(span);
    const active = trace.setSpan(parent, span);
    context.bind(active, request);
    context.bind(active, response);
    const end = () => {
      span.setAttribute('http.response.status_code', response.statusCode);
      if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    response.once('finish', end);
    response.once('close', () => {
      if (!response.writableFinished) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'connection closed before the response was sent' });
        span.end();
      }
    });
    return context.with(active, () => emit(event, ...args));
  } as typeof server.emit;
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, _reply, done) => {
      const span = trace.getActiveSpan();
      const route = request.routeOptions?.url;
      if (span && serverSpans.has(span) && route) {
        span.updateName(`${request.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      done();
    });
}
