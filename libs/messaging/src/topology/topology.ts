import type { Channel } from 'amqplib';
import type { MessagingSettings } from '../config';

export interface ExchangeDeclaration {
  name: string;
  type: 'topic' | 'direct';
  options: { durable: true };
}

export interface QueueDeclaration {
  name: string;
  options: { durable: true; arguments: Record<string, unknown> };
  exchange?: string;
  routingKey?: string;
}

export interface Topology {
  exchanges: ExchangeDeclaration[];
  queues: QueueDeclaration[];
  /** Delay queue for each retry, in attempt order: retryQueues[0] holds a message after its first failure. */
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

/** Delay after the n-th failed attempt (1-based): base * 2^(n-1), capped. */
export function retryDelayMs(failedAttempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** (failedAttempt - 1));
}

export function retryQueueName(queue: string, delayMs: number): string {
  return `${queue}.retry.${delayMs}ms`;
}

/** The whole broker topology, declared the same way (and so idempotently) by every app. */
export function buildTopology(settings: MessagingSettings): Topology {
  const { exchange, queue, deadLetterQueue, deadLetterExchange } = settings.names;
  const { maxAttempts, retryBaseDelayMs, retryMaxDelayMs, deliveryLimit } = settings.consumer;

  const retryDelays = Array.from({ length: Math.max(0, maxAttempts - 1) }, (_, i) =>
    retryDelayMs(i + 1, retryBaseDelayMs, retryMaxDelayMs),
  );
  const retryQueues = retryDelays.map((delay) => retryQueueName(queue, delay));
  const uniqueDelays = [...new Set(retryDelays)];

  return {
    exchanges: [
      { name: exchange, type: 'topic', options: { durable: true } },
      { name: deadLetterExchange, type: 'direct', options: { durable: true } },
    ],
    queues: [
      {
        name: queue,
        options: {
          durable: true,
          arguments: { ...quorumArguments(deadLetterExchange, queue), 'x-delivery-limit': deliveryLimit },
        },
        exchange,
        routingKey: '#',
      },
      // A classic queue on purpose: quorum queues count every return of a message (an operator's
      // listing gives them back), and RabbitMQ 4 drops a message past its default limit of 20.
      // A classic queue keeps dead letters however often they are looked at, in their order.
      {
        name: deadLetterQueue,
        options: { durable: true, arguments: { 'x-queue-type': 'classic' } },
        exchange: deadLetterExchange,
        routingKey: queue,
      },
      // A delay queue holds a failed message for its TTL, then dead-letters it through the default
      // exchange straight back to the work queue (not to the topic exchange, which would fan it out).
      ...uniqueDelays.map((delay) => ({
        name: retryQueueName(queue, delay),
        options: {
          durable: true as const,
          arguments: { ...quorumArguments('', queue), 'x-message-ttl': delay },
        },
      })),
    ],
    retryQueues,
  };
}

/** Declares the topology on a raw channel; asserting an existing object with equal arguments is a no-op. */
export async function assertTopology(channel: Channel, topology: Topology): Promise<void> {
  for (const exchange of topology.exchanges) {
    await channel.assertExchange(exchange.name, exchange.type, exchange.options);
  }
  for (const queue of topology.queues) {
    await channel.assertQueue(queue.name, queue.options);
    if (queue.exchange && queue.routingKey !== undefined) {
      await channel.bindQueue(queue.name, queue.exchange, queue.routingKey);
    }
  }
}
