import type { Channel } from 'amqplib';
import { resolveSubscriptions, type MessagingSettings, type SubscriptionSettings } from '../config';

export interface ExchangeDeclaration {
  name: string;
  type: 'topic' | 'direct';
  options: { durable: true };
}

export interface BindingDeclaration {
  exchange: string;
  routingKey: string;
}

export interface QueueDeclaration {
  name: string;
  options: { durable: true; arguments: Record<string, unknown> };
  /** Bindings of the queue, each declared on its own (a delay queue has none). */
  bindings: BindingDeclaration[];
}

/** The broker objects of one subscription. */
export interface SubscriptionTopology {
  name: string;
  queue: string;
  deadLetterQueue: string;
  /** Delay queue for each retry, in attempt order: retryQueues[0] holds a message after its first failure. */
  retryQueues: string[];
}

export interface Topology {
  exchanges: ExchangeDeclaration[];
  queues: QueueDeclaration[];
  subscriptions: SubscriptionTopology[];
  /** The first subscription's delay queues (the default subscription's, in an app that has only it). */
  retryQueues: string[];
}

/**
 * Quorum queues replicate and fsync before confirming. The at-least-once dead-letter strategy keeps a
 * message in its source queue until the dead-letter target has it, so dead-lettering cannot lose it
 * (it needs the reject-publish overflow mode).
 */
function quorumArguments(deadLetterExchange: string, deadLetterRoutingKey: string): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-dead-letter-exchange': deadLetterExchange,
    'x-dead-letter-routing-key': deadLetterRoutingKey,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

/** How often a dead letter may be handed back (listed) before a quorum DLQ would drop it: never, in practice. */
export const DLQ_DELIVERY_LIMIT = 1_000_000_000;

/** Delay after the n-th failed attempt (1-based): base * 2^(n-1), capped. */
export function retryDelayMs(failedAttempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** (failedAttempt - 1));
}

export function retryQueueName(queue: string, delayMs: number): string {
  return `${queue}.retry.${delayMs}ms`;
}

/**
 * The whole broker topology, declared the same way (and so idempotently) by every app: the exchanges,
 * and per subscription (resolveSubscriptions: the default one unless the settings name others) its work
 * queue with one binding per pattern, its DLQ and its delay queues.
 */
export function buildTopology(settings: MessagingSettings): Topology {
  const { exchange, deadLetterExchange } = settings.names;
  const parts = resolveSubscriptions(settings).map((subscription) => subscriptionTopology(exchange, deadLetterExchange, subscription));
  const subscriptions = parts.map((part) => part.subscription);
  return {
    exchanges: [
      { name: exchange, type: 'topic', options: { durable: true } },
      { name: deadLetterExchange, type: 'direct', options: { durable: true } },
    ],
    queues: parts.flatMap((part) => part.queues),
    subscriptions,
    retryQueues: subscriptions[0]?.retryQueues ?? [],
  };
}

/** One subscription's topology in the topology of the settings (throws for a name it does not have). */
export function topologyOf(topology: Topology, subscriptionName: string): SubscriptionTopology {
  const found = topology.subscriptions.find((subscription) => subscription.name === subscriptionName);
  if (!found) throw new Error(`no subscription ${subscriptionName} in the topology`);
  return found;
}

function subscriptionTopology(
  exchange: string,
  deadLetterExchange: string,
  subscription: SubscriptionSettings,
): { queues: QueueDeclaration[]; subscription: SubscriptionTopology } {
  const { queue, deadLetterQueue, maxAttempts, retryBaseDelayMs, retryMaxDelayMs, deliveryLimit } = subscription;
  const retryDelays = Array.from({ length: Math.max(0, maxAttempts - 1) }, (_, i) =>
    retryDelayMs(i + 1, retryBaseDelayMs, retryMaxDelayMs),
  );
  const retryQueues = retryDelays.map((delay) => retryQueueName(queue, delay));
  const uniqueDelays = [...new Set(retryDelays)];
  const queues: QueueDeclaration[] = [
    {
      name: queue,
      options: {
        durable: true,
        arguments: { ...quorumArguments(deadLetterExchange, queue), 'x-delivery-limit': deliveryLimit },
      },
      bindings: [...new Set(subscription.bindings)].map((routingKey) => ({ exchange, routingKey })),
    },
    // A quorum queue, so that no queue of ours lives on one node: while a classic DLQ's node is down,
    // nothing can be dead-lettered and declaring the topology fails on every other node. Quorum
    // queues count each return of a message (an operator's listing gives them back) and drop a
    // message past x-delivery-limit (RabbitMQ 4's default: 20); this limit is out of reach.
    // Bound with its work queue's name: the failure router and the work queue dead-letter with it.
    {
      name: deadLetterQueue,
      options: { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': DLQ_DELIVERY_LIMIT } },
      bindings: [{ exchange: deadLetterExchange, routingKey: queue }],
    },
    // A delay queue holds a failed message for its TTL, then dead-letters it through the default
    // exchange straight back to its work queue (not to the topic exchange, which would fan it out).
    ...uniqueDelays.map((delay) => ({
      name: retryQueueName(queue, delay),
      options: {
        durable: true as const,
        arguments: { ...quorumArguments('', queue), 'x-message-ttl': delay },
      },
      bindings: [],
    })),
  ];
  return { queues, subscription: { name: subscription.name, queue, deadLetterQueue, retryQueues } };
}

/** Declares the topology on a raw channel; asserting an existing object with equal arguments is a no-op. */
export async function assertTopology(channel: Channel, topology: Topology): Promise<void> {
  for (const exchange of topology.exchanges) {
    await channel.assertExchange(exchange.name, exchange.type, exchange.options);
  }
  for (const queue of topology.queues) {
    await channel.assertQueue(queue.name, queue.options);
    for (const binding of queue.bindings) await channel.bindQueue(queue.name, binding.exchange, binding.routingKey);
  }
}
