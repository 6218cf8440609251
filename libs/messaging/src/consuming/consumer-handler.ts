import type { MessageHandlerOptions } from '@golevelup/nestjs-rabbitmq';
import { DEFAULT_SUBSCRIPTION_NAME, type SubscriptionSettings } from '../config';
import { parseEnvelope } from '../envelope';
import type { QueueDeclaration } from '../topology';

/** The default subscription's handler name: `@Subscribe(DEFAULT_SUBSCRIPTION)` (or `@RabbitSubscribe({ name: MESSAGING_CONSUMER })`). */
export const MESSAGING_CONSUMER = DEFAULT_SUBSCRIPTION_NAME;

/**
 * Where a subscription's handler reads from and how its bytes become a MessageEnvelope. A body that is
 * not a valid envelope throws in the deserializer, before any handler runs, and so reaches the
 * subscription's failure router, which dead-letters it at once. Every subscription but the default one
 * consumes on a channel of its own (named after it), which carries its prefetch.
 */
export function consumerHandlerOptions(
  subscription: SubscriptionSettings,
  workQueue: QueueDeclaration,
  errorHandler: MessageHandlerOptions['errorHandler'],
): MessageHandlerOptions {
  return {
    queue: subscription.queue,
    // Declared again (same arguments, so a no-op) because golevelup runs channel setups concurrently:
    // a passive check could run before the topology step has created the queue on a fresh broker.
    queueOptions: {
      durable: true,
      arguments: workQueue.options.arguments,
      ...(subscription.channel === undefined ? {} : { channel: subscription.channel }),
    },
    deserializer: (content: Buffer) => parseEnvelope(content),
    errorHandler,
  };
}
