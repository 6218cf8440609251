import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { buildTopology, MESSAGING_SETTINGS, resolveSubscriptions, type MessagingSettings } from '@app/messaging';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Channel } from 'amqplib';

export type QueueState =
  { name: string; role: string; messages: number; consumers: number } | { name: string; role: string; error: string };

/**
 * Depth and consumers of each queue of the topology, live from the broker (a passive declare per
 * queue). A quorum queue's consumer count keeps a cancelled consumer until its deliveries settle.
 */
@Injectable()
export class ConsoleQueues {
  private readonly logger = new Logger(ConsoleQueues.name);
  private readonly roles: { name: string; role: string }[];

  constructor(
    private readonly amqp: AmqpConnection,
    @Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings,
  ) {
    // Every subscription's work queue and DLQ (the default one alone unless the app declares more).
    const subscriptions = resolveSubscriptions(settings);
    const retries = [...new Set(buildTopology(settings).retryQueues)];
    this.roles = [
      ...subscriptions.map((subscription) => ({ name: subscription.queue, role: 'work' })),
      ...subscriptions.map((subscription) => ({ name: subscription.deadLetterQueue, role: 'dead letters' })),
      ...retries.map((name) => ({ name, role: 'retry delay' })),
    ];
  }

  /** Every queue's state; a queue the broker does not know is reported as such, the others still are. */
  async states(extraDeadLetterQueues: string[] = []): Promise<QueueState[]> {
    const queues = [
      ...this.roles,
      ...extraDeadLetterQueues.filter((name) => !this.roles.some((r) => r.name === name)).map((name) => ({ name, role: 'dead letters' })),
    ];
    const connection = this.amqp.managedConnection.connection;
    if (!connection) return queues.map((q) => ({ ...q, error: 'not connected to the broker' }));
    const states: QueueState[] = [];
    let channel: Channel | undefined;
    try {
      for (const queue of queues) {
        try {
          channel ??= await this.open(connection);
          const { messageCount, consumerCount } = await channel.checkQueue(queue.name);
          states.push({ ...queue, messages: messageCount, consumers: consumerCount });
        } catch (error) {
          // A 404 closes the channel: the next queue gets a new one.
          channel = undefined;
          states.push({
            ...queue,
            error: (error as Error).message.includes('404') ? 'the broker has no such queue' : (error as Error).message,
          });
        }
      }
    } finally {
      await channel?.close().catch(() => undefined);
    }
    return states;
  }

  /** Messages ready in one queue, or undefined when it cannot be read. */
  async depth(name: string): Promise<number | undefined> {
    const [state] = await this.statesOf([name]);
    return state && 'messages' in state ? state.messages : undefined;
  }

  private async statesOf(names: string[]): Promise<QueueState[]> {
    return (await this.states(names)).filter((state) => names.includes(state.name));
  }

  private async open(connection: NonNullable<AmqpConnection['managedConnection']['connection']>): Promise<Channel> {
    const channel = await connection.createChannel();
    channel.on('error', (error: Error) => this.logger.debug({ error: error.message }, 'console queue channel closed by the broker'));
    return channel;
  }
}
