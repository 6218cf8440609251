import type { MessageHandlerOptions } from '@golevelup/nestjs-rabbitmq';
import type { MessagingSettings } from '../config';
import { parseEnvelope } from '../envelope';
import { buildTopology } from '../topology';

/** The handler name that `@RabbitSubscribe({ name: MESSAGING_CONSUMER })` refers to. */
export const MESSAGING_CONSUMER = 'messaging-consumer';

/**
 * Where the consumer's handler reads from and how its bytes become a MessageEnvelope. A body that is
 * not a valid envelope throws in the deserializer, before any handler runs, and so reaches the
 * failure router, which dead-letters it at once.
 */
export function consumerHandlerOptions(
  settings: MessagingSettings,
  errorHandler: MessageHandlerOptions['errorHandler'],
): MessageHandlerOptions {
  return {
    queue: settings.names.queue,
    // Declared again (same arguments, so a no-op) because golevelup runs channel setups concurrently:
    // a passive check could run before the topology step has created the queue on a fresh broker.
    queueOptions: { durable: true, arguments: workQueue(settings).options.arguments },
    deserializer: (content: Buffer) => parseEnvelope(content),
    errorHandler,
  };
}

function workQueue(settings: MessagingSettings) {
  const queue = buildTopology(settings).queues.find((q) => q.name === settings.names.queue);
  if (!queue) throw new Error(`topology has no work queue ${settings.names.queue}`);
  return queue;
}
