import { LoggerModule } from 'nestjs-pino';
import type { MessagingSettings } from '../config';

/** Structured JSON logs (pino). Secrets in headers are redacted; one line per request is not written. */
export function messagingLoggerModule(settings: MessagingSettings, service: string) {
  return LoggerModule.forRoot({
    pinoHttp: {
      level: settings.logLevel,
      name: service,
      autoLogging: false,
      redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'],
      quietReqLogger: true,
    },
  });
}
