import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Logger, NotFoundException, Optional, ServiceUnavailableException } from '@nestjs/common';
import type { ConfirmChannel, GetMessage, Options } from 'amqplib';
import type { SubscriptionSettings } from '../config';
import { deadLetterKeyOf, DeadLetterIndex } from '../dead-letters';
import { HEADERS, type MessageSelection } from '../envelope';
import { MESSAGING_SUBSCRIPTIONS } from '../messaging.constants';
import { MessagingMetrics } from '../metrics';
import { TopologyKeeper } from '../topology';
import { CopyReturnedError, publishCopy } from './confirmed-copy';

/** How long a move-back copy waits for its confirm before the move stops (the message stays a dead letter). */
const MOVE_BACK_CONFIRM_TIMEOUT_MS = 10_000;

export interface DeadLetter {
  messageId?: string;
  type?: string;
  failure: Record<string, unknown>;
  body: string;
}

/** Headers of a failure (ours and the broker's own dead-lettering), shown to operators. */
const FAILURE_HEADERS = [
  HEADERS.failureReason,
  HEADERS.failureKind,
  HEADERS.failedAt,
  HEADERS.failedQueue,
  HEADERS.failedAttempts,
  'x-death',
  'x-first-death-reason',
];

/**
 * Operator access to each subscription's DLQ (the default subscription's unless a name is given). Listing takes messages without acknowledging them and hands them all
 * back by closing its channel. Moving a message back publishes a copy to the work queue (attempt count
 * reset, failure headers dropped), waits for the confirm, and only then removes it from the DLQ:
 * a crash in between leaves a copy in both, and the guard processes it once. The copy is mandatory:
 * when no queue takes it (the work queue deleted) the move stops there with a 503, that message stays
 * in the DLQ, and the topology is declared again for the next try.
 */
@Injectable()
export class DeadLetterQueue {
  private readonly logger = new Logger(DeadLetterQueue.name);

  constructor(
    private readonly amqp: AmqpConnection,
    @Inject(MESSAGING_SUBSCRIPTIONS) private readonly subscriptions: SubscriptionSettings[],
    private readonly metrics: MessagingMetrics,
    private readonly topology: TopologyKeeper,
    @Optional() private readonly index?: DeadLetterIndex,
  ) {}

  /** The subscriptions whose DLQs this reads, by name (the default one first when the app has it). */
  get subscriptionNames(): string[] {
    return this.subscriptions.map((subscription) => subscription.name);
  }

  /** The DLQs this reads, one per subscription. */
  get deadLetterQueueNames(): string[] {
    return this.subscriptions.map((subscription) => subscription.deadLetterQueue);
  }

  /** The subscription whose DLQ `deadLetterQueue` is, if this app declares it. */
  subscriptionOfDeadLetterQueue(deadLetterQueue: string): string | undefined {
    return this.subscriptions.find((subscription) => subscription.deadLetterQueue === deadLetterQueue)?.name;
  }

  async count(subscription?: string): Promise<number> {
    const { deadLetterQueue } = this.subscriptionNamed(subscription);
    return this.withChannel(async (channel) => (await channel.checkQueue(deadLetterQueue)).messageCount);
  }

  async list(limit = 100, subscription?: string): Promise<DeadLetter[]> {
    const { deadLetterQueue } = this.subscriptionNamed(subscription);
    return this.withChannel(async (channel) => {
      const letters: DeadLetter[] = [];
      for (
        let message = await channel.get(deadLetterQueue, { noAck: false });
        message && letters.length < limit;
        message = letters.length < limit ? await channel.get(deadLetterQueue, { noAck: false }) : false
      ) {
        letters.push(describe(message));
      }
      return letters;
    });
  }

  /**
   * Moves the selected dead letters back to the work queue: those with the given ids, or every one
   * only for `{ all: true }`. An empty list moves nothing (and opens no channel).
   */
  async moveBack(selection: MessageSelection, subscription?: string): Promise<{ moved: string[] }> {
    const own = this.subscriptionNamed(subscription);
    const wanted = 'all' in selection ? undefined : new Set(selection.ids);
    if (wanted?.size === 0) return { moved: [] };
    return this.withChannel(async (channel) => {
      const moved: string[] = [];
      const total = (await channel.checkQueue(own.deadLetterQueue)).messageCount;
      for (let seen = 0; seen < total; seen++) {
        const message = await channel.get(own.deadLetterQueue, { noAck: false });
        if (!message) break;
        const id = message.properties.messageId as string | undefined;
        if (wanted && (!id || !wanted.has(id))) continue;
        await this.publishToWorkQueue(channel, message, own.queue);
        channel.ack(message);
        await this.index?.remove(own.deadLetterQueue, [deadLetterKeyOf(id, message.content)]);
        moved.push(id ?? '(no id)');
      }
      if (moved.length > 0) this.logger.log({ moved: moved.length }, 'dead letters moved back to the work queue');
      return { moved };
    });
  }

  /** A subscription by name; without one, the default subscription (or the app's first). */
  private subscriptionNamed(name: string | undefined): SubscriptionSettings {
    const found =
      name === undefined
        ? (this.subscriptions.find((subscription) => subscription.isDefault) ?? this.subscriptions[0])
        : this.subscriptions.find((subscription) => subscription.name === name);
    if (!found) throw new NotFoundException(name === undefined ? 'this app has no subscription' : `no subscription ${name}`);
    return found;
  }

  private async publishToWorkQueue(channel: ConfirmChannel, message: GetMessage, workQueue: string): Promise<void> {
    const headers = { ...(message.properties.headers ?? {}) };
    for (const name of [
      ...FAILURE_HEADERS,
      HEADERS.attempt,
      'x-delivery-count',
      'x-last-death-reason',
      'x-last-death-queue',
      'x-last-death-exchange',
      'x-first-death-queue',
      'x-first-death-exchange',
    ]) {
      delete headers[name];
    }
    const options: Options.Publish = { ...message.properties, headers, persistent: true };
    const copy = { exchange: '', routingKey: workQueue, content: message.content, options, target: 'move_back' as const };
    try {
      await publishCopy(channel, copy, MOVE_BACK_CONFIRM_TIMEOUT_MS);
    } catch (error) {
      if (!(error instanceof CopyReturnedError)) throw error;
      this.metrics.copiesReturned.inc({ target: error.target });
      this.logger.error({ messageId: message.properties.messageId as unknown }, 'move-back copy returned: no queue took it');
      await this.topology.ensure(error.message);
      throw new ServiceUnavailableException(
        `the work queue ${workQueue} did not take the copy (returned as unroutable); the message stays in the DLQ, the topology was declared again: retry`,
      );
    }
  }

  /** Unacknowledged messages return to the DLQ when the channel closes. */
  private async withChannel<T>(work: (channel: ConfirmChannel) => Promise<T>): Promise<T> {
    const connection = this.amqp.managedConnection.connection;
    if (!connection) throw new ServiceUnavailableException('not connected to the broker');
    const channel = await connection.createConfirmChannel();
    // Without a listener amqplib throws a broker-closed channel's error (a missing DLQ: 404) into its
    // frame loop and drops the whole connection, the consuming channel with it.
    channel.on('error', (error: Error) => this.logger.warn({ error: error.message }, 'dead-letter channel closed by the broker'));
    try {
      return await work(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }
}

function describe(message: GetMessage): DeadLetter {
  const headers = message.properties.headers ?? {};
  return {
    messageId: message.properties.messageId as string | undefined,
    type: message.properties.type as string | undefined,
    failure: Object.fromEntries(FAILURE_HEADERS.filter((name) => headers[name] !== undefined).map((name) => [name, headers[name]])),
    body: message.content.toString('utf8').slice(0, 4096),
  };
}
