import { LoggerModule } from 'nestjs-pino';
import type { MessagingSettings } from '@app/messaging/config';

/**
 * Structured JSON logs (pino). Secrets in headers are redacted; one line per request is not written.
 * pino-http's middleware is bound to no route: with automatic request lines off, all it did per request
 * was build a child logger (serializing and redacting the request) and put it in an AsyncLocalStorage,
 * whose promise hooks then slowed every promise of the process, for a request counter in the few lines
 * written during a request. Those lines carry the message id and correlation id instead.
 */
export function messagingLoggerModule(settings: MessagingSettings, service: string) {
  return LoggerModule.forRoot({
    pinoHttp: {
      level: settings.logLevel,
      name: service,
      autoLogging: false,
      redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'],
      quietReqLogger: true,
    },
    forRoutes: [],
  });
}
