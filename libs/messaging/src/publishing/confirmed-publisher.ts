import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import type { MessagingSettings } from '../config';
import { publishProperties, type WireMessage } from '../envelope';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { assertTopology, buildTopology } from '../topology';
import { PublishFailedError } from './publish-errors';

/** A publish waiting for its confirm. */
interface Outstanding {
  messageId: string;
  /** performance.now() after which it fails with a timeout. */
  deadline: number;
  resolve: () => void;
  reject: (error: PublishFailedError) => void;
}

/** How often overdue confirms are looked for, at most. */
const SWEEP_MS = 100;

function sweepInterval(confirmTimeoutMs: number): number {
  return Math.max(10, Math.min(SWEEP_MS, Math.floor(confirmTimeoutMs / 4)));
}

/**
 * Publishes on a confirm channel of its own, on the connection golevelup manages, and resolves only
 * when the broker confirmed the message. Every other ending rejects, promptly:
 *  - no open channel: at once (the caller goes to the outbox instead of waiting for a reconnect);
 *  - nack, or a mandatory message returned as unroutable (the return precedes its ack);
 *  - the channel closing with the confirm outstanding (settled here, not left to amqplib);
 *  - no confirm within the timeout.
 * Nothing is kept in memory for a later resend: a failed send is the caller's to store.
 *
 * Every publish has the same timeout, so the outstanding ones expire in the order they were sent: one
 * timer sweeps them from the oldest (every SWEEP_MS, or a quarter of the timeout if shorter), instead
 * of a timer set and cleared per message.
 */
@Injectable()
export class ConfirmedPublisher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ConfirmedPublisher.name);
  private channel?: ConfirmChannel;
  private opening = false;
  private closed = false;
  /** In the order they were published, which is the order their deadlines come in. */
  private readonly outstanding = new Set<Outstanding>();
  private readonly returned = new Set<string>();
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly amqp: AmqpConnection,
    @Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings,
  ) {}

  onApplicationBootstrap(): void {
    const manager = this.amqp.managedConnection;
    manager.on('connect', ({ connection }) => void this.openChannel(connection as unknown as ChannelModel));
    manager.on('disconnect', () => this.dropChannel('connection lost'));
    if (manager.connection) void this.openChannel(manager.connection);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    const channel = this.channel;
    this.dropChannel('shutting down');
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    await channel?.close().catch(() => undefined);
  }

  /** True when a publish can be attempted now. */
  isReady(): boolean {
    return this.channel !== undefined;
  }

  /** Stub (the "pub" helper's version replaces it): why the publisher is not ready, or undefined. */
  notReadyReason(): string | undefined {
    return this.isReady() ? undefined : 'publisher channel not open';
  }

  publish(message: WireMessage, occurredAtMs?: number): Promise<void> {
    const channel = this.channel;
    if (!channel) return Promise.reject(new PublishFailedError('not-connected', message.id));
    return new Promise<void>((resolve, reject) => {
      const entry: Outstanding = {
        messageId: message.id,
        deadline: performance.now() + this.settings.publishing.confirmTimeoutMs,
        resolve,
        reject,
      };
      this.outstanding.add(entry);
      this.sweeper ??= setInterval(() => this.expire(), sweepInterval(this.settings.publishing.confirmTimeoutMs)).unref();
      try {
        channel.publish(
          this.settings.names.exchange,
          message.type,
          message.body,
          publishProperties(message, occurredAtMs),
          (err: unknown) => {
            // Settled already when it timed out or its channel closed first.
            if (!this.outstanding.delete(entry)) return;
            if (err) entry.reject(new PublishFailedError('nacked', message.id, err instanceof Error ? err.message : JSON.stringify(err)));
            else if (this.returned.delete(message.id)) entry.reject(new PublishFailedError('returned', message.id, 'unroutable'));
            else entry.resolve();
          },
        );
      } catch (error) {
        this.fail(entry, new PublishFailedError('channel-closed', message.id, (error as Error).message));
      }
    });
  }

  private fail(entry: Outstanding, error: PublishFailedError): void {
    if (this.outstanding.delete(entry)) entry.reject(error);
  }

  /** Fails the publishes whose confirm is overdue: the oldest first, up to the first one still in time. */
  private expire(): void {
    const now = performance.now();
    for (const entry of this.outstanding) {
      if (entry.deadline > now) break;
      this.fail(entry, new PublishFailedError('timeout', entry.messageId, `${this.settings.publishing.confirmTimeoutMs} ms`));
    }
    if (this.outstanding.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private async openChannel(connection: ChannelModel): Promise<void> {
    if (this.opening || this.channel || this.closed) return;
    this.opening = true;
    try {
      const channel = await connection.createConfirmChannel();
      channel.on('return', (returned: Message) => {
        const id = returned.properties.messageId as string | undefined;
        if (id) this.returned.add(id);
      });
      channel.on('error', (error: Error) => this.logger.warn(`publisher channel error: ${error.message}`));
      channel.on('close', () => {
        if (this.channel === channel) this.dropChannel('channel closed');
        this.reopenLater();
      });
      await assertTopology(channel, buildTopology(this.settings));
      this.channel = channel;
      this.logger.log('publisher channel open, topology declared');
    } catch (error) {
      this.logger.warn(`could not open the publisher channel: ${(error as Error).message}`);
      this.reopenLater();
    } finally {
      this.opening = false;
    }
  }

  /** A channel can close while its connection lives on (a channel-level error): open another. */
  private reopenLater(): void {
    setTimeout(() => {
      const connection = this.amqp.managedConnection.connection;
      if (connection && !this.channel && !this.closed) void this.openChannel(connection);
    }, 500).unref();
  }

  private dropChannel(reason: string): void {
    this.channel = undefined;
    this.returned.clear();
    for (const entry of [...this.outstanding]) this.fail(entry, new PublishFailedError('channel-closed', entry.messageId, reason));
  }
}
