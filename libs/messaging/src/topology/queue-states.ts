import type { Channel, ChannelModel } from 'amqplib';
import { resolveSubscriptions, type MessagingSettings } from '../config';
import { buildTopology } from './topology';

export interface TopologyQueue {
  name: string;
  /** What the queue is for ('work', 'dead letters', 'retry delay'): the console and `messaging_queue_messages` name it. */
  role: string;
}

export type QueueState = (TopologyQueue & { messages: number; consumers: number }) | (TopologyQueue & { error: string });

/** Every subscription's work queue and dead-letter queue, then the retry delay queues. */
export function topologyQueues(settings: MessagingSettings): TopologyQueue[] {
  const subscriptions = resolveSubscriptions(settings);
  const retries = [...new Set(buildTopology(settings).retryQueues)];
  return [
    ...subscriptions.map((subscription) => ({ name: subscription.queue, role: 'work' })),
    ...subscriptions.map((subscription) => ({ name: subscription.deadLetterQueue, role: 'dead letters' })),
    ...retries.map((name) => ({ name, role: 'retry delay' })),
  ];
}

/**
 * Depth (messages ready) and consumers of each queue, live from the broker: a passive declare per
 * queue on a channel of its own, closed afterwards. A queue the broker does not know is reported as
 * such (its 404 closes the channel; the next queue gets a new one), the others still are. A quorum
 * queue's consumer count keeps a cancelled consumer until its deliveries settle.
 */
export async function readQueueStates(
  connection: ChannelModel | undefined,
  queues: TopologyQueue[],
  onChannelError: (error: Error) => void = () => undefined,
): Promise<QueueState[]> {
  if (!connection) return queues.map((queue) => ({ ...queue, error: 'not connected to the broker' }));
  const states: QueueState[] = [];
  let channel: Channel | undefined;
  try {
    for (const queue of queues) {
      try {
        if (!channel) {
          channel = await connection.createChannel();
          channel.on('error', onChannelError);
        }
        const { messageCount, consumerCount } = await channel.checkQueue(queue.name);
        states.push({ ...queue, messages: messageCount, consumers: consumerCount });
      } catch (error) {
        channel = undefined;
        const message = (error as Error).message;
        states.push({ ...queue, error: message.includes('404') ? 'the broker has no such queue' : message });
      }
    }
  } finally {
    await channel?.close().catch(() => undefined);
  }
  return states;
}
