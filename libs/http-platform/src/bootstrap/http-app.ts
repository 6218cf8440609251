import { DynamicModule, Logger as NestLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { describeSettings, type MessagingSettings } from '@app/messaging/config';
import { securityHeaders } from '../security';
import { useStrictJsonBodies } from './json-body-parser';

/**
 * Longest route parameter, URL-encoded: a message id (up to 200 characters, each up to 4 bytes of
 * UTF-8, each byte 3 characters encoded) fits, so every id can be named in an admin route. Fastify's
 * default (100) answered 414 for ids over 100 characters.
 */
const MAX_PARAM_LENGTH = 2400;

/**
 * Creates a Fastify-based Nest app with pino logs and shutdown hooks, logs the effective settings
 * (secrets masked), and listens.
 *
 * At SIGTERM (or SIGINT) Nest runs the shutdown hooks, then re-raises the signal, so a clean stop ends
 * by that signal. On the way the HTTP server stops listening (new connections are refused), answers
 * the requests it is handling (with `Connection: close`) and closes idle keep-alive connections,
 * before the broker and Redis connections close. A client still sending its request
 * SHUTDOWN_TIMEOUT_MS after that is disconnected, unanswered (nothing of it was accepted), so one slow
 * client cannot hold the stop. A second signal, or a stop that overruns its bound by far, ends the
 * process at once with exit code 1. Either way, what is unacknowledged is redelivered by the broker.
 */
export async function startHttpApp(
  module: DynamicModule,
  settings: MessagingSettings,
  port: number,
  service: string,
  configure?: (app: NestFastifyApplication) => void | Promise<void>,
): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    module,
    new FastifyAdapter({
      bodyLimit: settings.publishing.maxBodyBytes,
      trustProxy: false,
      maxParamLength: MAX_PARAM_LENGTH,
      // While the server closes, a request arriving on a keep-alive connection that is still open is
      // handled as usual (with `Connection: close`): the publisher and Redis close only after the HTTP
      // server. Fastify's default answered it a bare 503 without Retry-After, a refusal the contract
      // does not allow.
      return503OnClosing: false,
    }),
    // A failure while Nest initialises is rethrown (for exitOnStartFailure: exit code 1), not answered
    // with process.abort() (SIGABRT and a core dump, which an orchestrator reads as a crash).
    { bufferLogs: true, abortOnError: false },
  );
  app.useLogger(app.get(Logger));
  useStrictJsonBodies(app, settings.publishing.maxBodyBytes);
  // Security headers (helmet's, computed once: see security-headers.ts); the CSP is left to the docs page's own needs.
  const headers = securityHeaders({ contentSecurityPolicy: false });
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, reply, done) => {
      // A route that answers on the raw response (the producer's send route) writes these itself.
      if ((request.routeOptions.config as { ownSecurityHeaders?: boolean }).ownSecurityHeaders !== true) reply.headers(headers);
      done();
    });
  await configure?.(app);
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('preClose', (done) => {
    setTimeout(() => fastify.server.closeAllConnections(), settings.shutdownTimeoutMs).unref();
    done();
  });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  boundTheStop(settings.shutdownTimeoutMs + 5000);
  await app.listen(port, '0.0.0.0');
  new NestLogger(service).log({ settings: describeSettings(settings) }, `${service} listening on port ${port}`);
  return app;
}

/**
 * Nest ignores further signals while its shutdown hooks run. Here the first signal arms a timer that
 * ends a stop overrunning `boundMs` (exit code 1), and a second signal ends the process at once (exit
 * code 1), as operators expect of a second Ctrl-C. The signal Nest re-raises when its hooks are done
 * (it removed its own listeners first) is let through, so a clean stop still ends by that signal.
 */
function boundTheStop(boundMs: number): void {
  const signals = ['SIGTERM', 'SIGINT'] as const;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) {
      stopping = true;
      setTimeout(() => process.exit(1), boundMs).unref();
    } else if (process.listenerCount(signal) === 1) {
      for (const name of signals) process.removeListener(name, onSignal);
      process.kill(process.pid, signal);
    } else {
      process.exit(1);
    }
  };
  for (const signal of signals) process.on(signal, onSignal);
}
