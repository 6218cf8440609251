import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Logger, Optional, ServiceUnavailableException } from '@nestjs/common';
import type { ConfirmChannel, GetMessage, Options } from 'amqplib';
import type { MessagingSettings } from '../config';
import { deadLetterKeyOf, DeadLetterIndex } from '../dead-letters';
import { HEADERS, type MessageSelection } from '../envelope';
import { MESSAGING_SETTINGS } from '../messaging.constants';
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
 * Operator access to the DLQ. Listing takes messages without acknowledging them and hands them all
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
    @Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings,
    private readonly metrics: MessagingMetrics,
    private readonly topology: TopologyKeeper,
    @Optional() private readonly index?: DeadLetterIndex,
  ) {}

  async count(): Promise<number> {
    return this.withChannel(async (channel) => (await channel.checkQueue(this.settings.names.deadLetterQueue)).messageCount);
  }

  async list(limit = 100): Promise<DeadLetter[]> {
    return this.withChannel(async (channel) => {
      const letters: DeadLetter[] = [];
      for (
        let message = await this.take(channel);
        message && letters.length < limit;
        message = letters.length < limit ? await this.take(channel) : false
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
  async moveBack(selection: MessageSelection): Promise<{ moved: string[] }> {
    const wanted = 'all' in selection ? undefined : new Set(selection.ids);
    if (wanted?.size === 0) return { moved: [] };
    return this.withChannel(async (channel) => {
      const moved: string[] = [];
      const total = (await channel.checkQueue(this.settings.names.deadLetterQueue)).messageCount;
      for (let seen = 0; seen < total; seen++) {
        const message = await this.take(channel);
        if (!message) break;
        const id = message.properties.messageId as string | undefined;
        if (wanted && (!id || !wanted.has(id))) continue;
        await this.publishToWorkQueue(channel, message);
        channel.ack(message);
        await this.index?.remove(this.settings.names.deadLetterQueue, [deadLetterKeyOf(id, message.content)]);
        moved.push(id ?? '(no id)');
      }
      if (moved.length > 0) this.logger.log({ moved: moved.length }, 'dead letters moved back to the work queue');
      return { moved };
    });
  }

  private take(channel: ConfirmChannel): Promise<GetMessage | false> {
    return channel.get(this.settings.names.deadLetterQueue, { noAck: false });
  }

  private async publishToWorkQueue(channel: ConfirmChannel, message: GetMessage): Promise<void> {
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
    const copy = { exchange: '', routingKey: this.settings.names.queue, content: message.content, options, target: 'move_back' as const };
    try {
      await publishCopy(channel, copy, MOVE_BACK_CONFIRM_TIMEOUT_MS);
    } catch (error) {
      if (!(error instanceof CopyReturnedError)) throw error;
      this.metrics.copiesReturned.inc({ target: error.target });
      this.logger.error({ messageId: message.properties.messageId as unknown }, 'move-back copy returned: no queue took it');
      await this.topology.ensure(error.message);
      throw new ServiceUnavailableException(
        `the work queue ${this.settings.names.queue} did not take the copy (returned as unroutable); the message stays in the DLQ, the topology was declared again: retry`,
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
