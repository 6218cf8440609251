import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { MessagingSettings } from './config';
import { MESSAGING_SETTINGS } from './messaging.constants';

/** Which sides of the library an app carries; a consume-only service carries no publisher. */
export interface MessagingModuleExtras {
  /** Carry the confirmed publisher, the outbox and the replay job. */
  withPublisher: boolean;
  /** Carry the idempotency guard, the failure router and the consumer drain. */
  withConsumer: boolean;
}

export const { ConfigurableModuleClass, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } = new ConfigurableModuleBuilder<MessagingSettings>({
  optionsInjectionToken: MESSAGING_SETTINGS,
})
  .setClassMethodName('forRoot')
  .setExtras<MessagingModuleExtras>({ withPublisher: false, withConsumer: false }, (definition) => definition)
  .build();
