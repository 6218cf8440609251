import * as amqplib from 'amqplib';
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import type { SystemTarget } from './system-target';

/**
 * What the suite does on the broker itself, as another service of a deployment would: publish to the
 * contract's exchange or queue, and take back its own dead letters by id. It never consumes, purges
 * or declares anything.
 */
export class SystemBroker {
  private constructor(
    private readonly connection: ChannelModel,
    private readonly target: SystemTarget,
  ) {}

  static async connect(target: SystemTarget): Promise<SystemBroker> {
    let connection: ChannelModel;
    try {
      connection = await amqplib.connect(target.rabbitmqUrl);
    } catch (error) {
      throw new Error(`cannot reach RabbitMQ at RABBITMQ_URL (${(error as Error).message})`);
    }
    connection.on('error', () => undefined);
    return new SystemBroker(connection, target);
  }

  /** Publishes to the topic exchange with the broker's confirm; fails when the message is not routed. */
  publishToExchange(routingKey: string, body: Buffer, options: Options.Publish): Promise<void> {
    return this.publish(this.target.names.exchange, routingKey, body, options);
  }

  /** Publishes straight into the DLQ (the default exchange), as a dead-lettering consumer would. */
  publishToDeadLetterQueue(body: Buffer, options: Options.Publish): Promise<void> {
    return this.publish('', this.target.names.deadLetterQueue, body, options);
  }

  /**
   * Removes the dead letters whose messageId is one of `ids`, and only those: every other message
   * taken while looking goes back unacknowledged, in place, when the channel closes. Returns the ids
   * removed (one per message, so a duplicate would show twice).
   */
  async removeDeadLetters(ids: Iterable<string>): Promise<string[]> {
    const wanted = new Set(ids);
    const removed: string[] = [];
    if (wanted.size === 0) return removed;
    const channel = await this.connection.createChannel();
    channel.on('error', () => undefined);
    try {
      const total = (await channel.checkQueue(this.target.names.deadLetterQueue)).messageCount;
      for (let seen = 0; seen < total; seen++) {
        const message = await channel.get(this.target.names.deadLetterQueue, { noAck: false });
        if (message === false) break;
        const id = message.properties.messageId as string | undefined;
        if (id !== undefined && wanted.has(id)) {
          channel.ack(message);
          removed.push(id);
        }
      }
    } finally {
      await channel.close().catch(() => undefined);
    }
    return removed;
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }

  private async publish(exchange: string, routingKey: string, body: Buffer, options: Options.Publish): Promise<void> {
    const channel: ConfirmChannel = await this.connection.createConfirmChannel();
    channel.on('error', () => undefined);
    let returned = false;
    channel.on('return', () => (returned = true));
    try {
      await new Promise<void>((resolve, reject) =>
        channel.publish(exchange, routingKey, body, { persistent: true, mandatory: true, ...options }, (error: unknown) =>
          error
            ? reject(new Error(`the broker refused the message: ${error instanceof Error ? error.message : JSON.stringify(error)}`))
            : resolve(),
        ),
      );
    } finally {
      await channel.close().catch(() => undefined);
    }
    // A returned message comes before its confirm; nothing routed it, so nothing will ever see it.
    if (returned) throw new Error(`the message to ${exchange || '(default exchange)'} / ${routingKey} was not routed to any queue`);
  }
}
