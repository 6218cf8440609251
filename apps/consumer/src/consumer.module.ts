import {
  DEFAULT_SUBSCRIPTION,
  MessagingHealthModule,
  MessagingModule,
  MetricsController,
  type MessagingSettings,
  type SubscriptionDefinition,
} from '@app/messaging';
import { messagingLoggerModule } from '@app/http-platform';
import { ConsoleModule } from '@app/console';
import { DynamicModule, Module } from '@nestjs/common';
import { DeadLetterAdminController } from './admin/dead-letter-admin.controller';
import { HealthController } from './health/health.controller';
import { ProcessedMessagesHandler, SIMULATED_FAILURES } from './processing/processed-messages.handler';

/**
 * The consumer app. It declares the default subscription (its reference handler's); an app built on it
 * (the e2e suite's fixture with a second subscription) passes more, and provides their handlers.
 */
@Module({})
export class ConsumerModule {
  static forRoot(
    settings: MessagingSettings,
    simulatedFailures: boolean,
    subscriptions: readonly SubscriptionDefinition[] = [DEFAULT_SUBSCRIPTION],
  ): DynamicModule {
    return {
      module: ConsumerModule,
      imports: [
        messagingLoggerModule(settings, 'consumer'),
        MessagingModule.forRoot({ ...settings, subscriptions, withConsumer: true }),
        MessagingHealthModule,
        ConsoleModule,
      ],
      controllers: [HealthController, MetricsController, DeadLetterAdminController],
      providers: [{ provide: SIMULATED_FAILURES, useValue: simulatedFailures }, ProcessedMessagesHandler],
    };
  }
}
