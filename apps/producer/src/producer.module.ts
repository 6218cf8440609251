import { MessagingHealthModule, MessagingModule, MetricsController, type MessagingSettings } from '@app/messaging';
import { ApiKeyGuard, ApiKeyThrottlerGuard, messagingLoggerModule } from '@app/http-platform';
import { ConsoleModule } from '@app/console';
import { DynamicModule, Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { OutboxAdminController } from './admin/outbox-admin.controller';
import { HealthController } from './health/health.controller';
import { MessagesController } from './messages/messages.controller';
import { SendAccessGuard } from './messages/send-access.guard';

/** One minute: the window RATE_LIMIT_PER_MINUTE counts in. */
const RATE_WINDOW_MS = 60_000;

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
      controllers: [MessagesController, HealthController, MetricsController, OutboxAdminController],
      providers: [ApiKeyGuard, ApiKeyThrottlerGuard, SendAccessGuard],
    };
  }
}
