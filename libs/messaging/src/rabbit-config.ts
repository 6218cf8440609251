import type { MessageHandlerOptions, RabbitMQChannels, RabbitMQConfig } from '@golevelup/nestjs-rabbitmq';
import { resolveSubscriptions, type MessagingSettings, type SubscriptionSettings } from './config';
import { consumerHandlerOptions, createFailureRouter } from './consuming';
import type { DeadLetterIndex } from './dead-letters';
import type { MessagingMetrics } from './metrics';
import { buildTopology, topologyOf, type Topology, type TopologyKeeper } from './topology';

/**
 * golevelup's configuration. `keeper` is given on the consuming side only: then every subscription
 * gets its handler options (its queue, its channel, its own failure router, which declares a missing
 * topology again through the keeper).
 */
export function rabbitConfig(
  settings: MessagingSettings,
  metrics: MessagingMetrics,
  keeper?: TopologyKeeper,
  deadLetters?: DeadLetterIndex,
): RabbitMQConfig {
  const subscriptions = resolveSubscriptions(settings);
  return {
    uri: settings.rabbitmqUrls,
    // Declared by the publisher and the topology keeper, tolerantly (topology-declaration.ts), not here:
    // golevelup fails its whole connection setup on one refused declaration.
    exchanges: [],
    queues: [],
    // The default channel's (the default subscription's); every other subscription has a channel of its own.
    prefetchCount: subscriptions.find((subscription) => subscription.isDefault)?.prefetch ?? settings.consumer.prefetch,
    channels: keeper ? subscriptionChannels(subscriptions) : {},
    // Start without the broker: the producer then sends to the outbox and both apps reconnect later.
    connectionInitOptions: { wait: false, skipConnectionFailedLogging: true },
    connectionManagerOptions: { heartbeatIntervalInSeconds: 5, reconnectTimeInSeconds: 1 },
    registerHandlers: keeper !== undefined,
    enableDirectReplyTo: false,
    handlers: keeper ? subscriptionHandlers(settings, subscriptions, buildTopology(settings), metrics, keeper, deadLetters) : {},
  };
}

/** A channel per subscription other than the default one, with its prefetch (basic.qos is per channel). */
function subscriptionChannels(subscriptions: SubscriptionSettings[]): RabbitMQChannels {
  return Object.fromEntries(
    subscriptions.flatMap((subscription) =>
      subscription.channel ? [[subscription.channel, { prefetchCount: subscription.prefetch }]] : [],
    ),
  );
}

function subscriptionHandlers(
  settings: MessagingSettings,
  subscriptions: SubscriptionSettings[],
  topology: Topology,
  metrics: MessagingMetrics,
  keeper: TopologyKeeper,
  deadLetters?: DeadLetterIndex,
): Record<string, MessageHandlerOptions> {
  return Object.fromEntries(
    subscriptions.map((subscription) => {
      const workQueue = topology.queues.find((queue) => queue.name === subscription.queue);
      if (!workQueue) throw new Error(`topology has no work queue ${subscription.queue}`);
      const own = topologyOf(topology, subscription.name);
      const router = createFailureRouter(subscription, own, settings.names.deadLetterExchange, metrics, keeper, deadLetters);
      return [subscription.name, consumerHandlerOptions(subscription, workQueue, router)];
    }),
  );
}
