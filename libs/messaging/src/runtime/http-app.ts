import { DynamicModule, Logger as NestLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { describeSettings, type MessagingSettings } from '../config';
import { securityHeaders } from '../security';

/**
 * Creates a Fastify-based Nest app with pino logs and shutdown hooks, logs the effective settings
 * (secrets masked), and listens. A second SIGTERM ends the process at once; a drain that overruns its
 * bound by far ends it with exit code 1. Either way, what is unacknowledged is redelivered by the broker.
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
    new FastifyAdapter({ bodyLimit: settings.publishing.maxBodyBytes, trustProxy: false }),
    { bufferLogs: true },
  );
  app.useLogger(app.get(Logger));
  // Security headers (helmet's, computed once: see security-headers.ts); the CSP is left to the docs page's own needs.
  const headers = securityHeaders({ contentSecurityPolicy: false });
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers);
      done();
    });
  await configure?.(app);
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => setTimeout(() => process.exit(1), settings.shutdownTimeoutMs + 5000).unref());
  }
  await app.listen(port, '0.0.0.0');
  new NestLogger(service).log({ settings: describeSettings(settings) }, `${service} listening on port ${port}`);
  return app;
}
