import { MessagingHealthModule, messagingLoggerModule, MessagingModule, MetricsController, type MessagingSettings } from '@app/messaging';
import { DynamicModule, Module } from '@nestjs/common';
import { HealthController } from './health/health.controller';
import { MessagesController } from './messages/messages.controller';

@Module({})
export class ProducerModule {
  static forRoot(settings: MessagingSettings): DynamicModule {
    return {
      module: ProducerModule,
      imports: [messagingLoggerModule(settings, 'producer'), MessagingModule.forRoot({ ...settings, withPublisher: true }), MessagingHealthModule],
      controllers: [MessagesController, HealthController, MetricsController],
    };
  }
}
