import { MessagingHealthModule, MessagingModule, MetricsController, type MessagingSettings } from '@app/messaging';
import { messagingLoggerModule } from '@app/http-platform';
import { ConsoleModule } from '@app/console';
import { DynamicModule, Module } from '@nestjs/common';
import { DeadLetterAdminController } from './admin/dead-letter-admin.controller';
import { HealthController } from './health/health.controller';
import { ProcessedMessagesHandler, SIMULATED_FAILURES } from './processing/processed-messages.handler';

@Module({})
export class ConsumerModule {
  static forRoot(settings: MessagingSettings, simulatedFailures: boolean): DynamicModule {
    return {
      module: ConsumerModule,
      imports: [
        messagingLoggerModule(settings, 'consumer'),
        MessagingModule.forRoot({ ...settings, withConsumer: true }),
        MessagingHealthModule,
        ConsoleModule,
      ],
      controllers: [HealthController, MetricsController, DeadLetterAdminController],
      providers: [{ provide: SIMULATED_FAILURES, useValue: simulatedFailures }, ProcessedMessagesHandler],
    };
  }
}
