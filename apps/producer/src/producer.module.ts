import { MessagingHealthModule, MessagingModule, MetricsController, type MessagingSettings } from '@app/messaging';
import { ApiKeyGuard, messagingLoggerModule } from '@app/http-platform';
import { ConsoleModule } from '@app/console';
import { DynamicModule, Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { OutboxAdminController } from './admin/outbox-admin.controller';
import { HealthController } from './health/health.controller';
import { RATE_WINDOW_MS, SendAccess } from './messages/send-access';
import { SendMessageRoute } from './messages/send-message.route';

@Module({})
export class ProducerModule {
  static forRoot(settings: MessagingSettings): DynamicModule {
    const limit = settings.security.rateLimitPerMinute;
    return {
      module: ProducerModule,
      imports: [
        messagingLoggerModule(settings, 'producer'),
        MessagingModule.forRoot({ ...settings, withPublisher: true }),
        MessagingHealthModule,
        ConsoleModule,
        ThrottlerModule.forRoot({ throttlers: [{ ttl: RATE_WINDOW_MS, limit: Math.max(limit, 1) }], skipIf: () => limit === 0 }),
      ],
      controllers: [HealthController, MetricsController, OutboxAdminController],
      // POST /messages is SendMessageRoute's (a fastify route); the throttler module gives it its storage.
      providers: [ApiKeyGuard, SendAccess, SendMessageRoute],
    };
  }
}
