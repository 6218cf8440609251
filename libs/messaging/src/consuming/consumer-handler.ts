import type { MessageHandlerOptions } from '@golevelup/nestjs-rabbitmq';
import type { MessagingSettings } from '../config';
import { parseEnvelope } from '../envelope';

/** The handler name that `@RabbitSubscribe({ name: MESSAGING_CONSUMER })` refers to. */
export const MESSAGING_CONSUMER = 'messaging-consumer';

/**
 * Where the consumer's handler reads from and how its bytes become a MessageEnvelope. A body that is
 * not a valid envelope throws in the deserializer, before any handler runs, and so reaches the
 * failure router, which dead-letters it at once.
 */
export function consumerHandlerOptions(settings: MessagingSettings, errorHandler: MessageHandlerOptions['errorHandler']): MessageHandlerOptions {
  return {
    queue: settings.names.queue,
    createQueueIfNotExists: false,
    deserializer: (content: Buffer) => parseEnvelope(content),
    errorHandler,
  };
}
