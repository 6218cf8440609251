import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import type { MessagingSettings } from '../config';
import { publishProperties, type WireMessage } from '../envelope';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { assertTopology, buildTopology } from '../topology';
import { PublishFailedError } from './publish-errors';

type Settle = (error?: PublishFailedError) => void;
type SettleOutstanding = (kind: 'channel-closed', reason: string) => void;

/**
 * Publishes on a confirm channel of its own, on the connection golevelup manages, and resolves only
 * when the broker confirmed the message. Every other ending rejects, promptly:
 *  - no open channel: at once (the caller goes to the outbox instead of waiting for a reconnect);
 *  - nack, or a mandatory message returned as unroutable (the return precedes its ack);
 *  - the channel closing with the confirm outstanding (settled here, not left to amqplib);
 *  - no confirm within the timeout.
 * Nothing is kept in memory for a later resend: a failed send is the caller's to store.
 */
@Injectable()
export class ConfirmedPublisher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ConfirmedPublisher.name);
  private channel?: ConfirmChannel;
  private opening = false;
  private closed = false;
  private readonly outstanding = new Map<Settle, SettleOutstanding>();
  private readonly returned = new Set<string>();

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
    await channel?.close().catch(() => undefined);
  }

  /** True when a publish can be attempted now. */
  isReady(): boolean {
    return this.channel !== undefined;
  }

  publish(message: WireMessage, occurredAtMs?: number): Promise<void> {
    const channel = this.channel;
    if (!channel) return Promise.reject(new PublishFailedError('not-connected', message.id));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => settle(new PublishFailedError('timeout', message.id, `${this.settings.publishing.confirmTimeoutMs} ms`)),
        this.settings.publishing.confirmTimeoutMs,
      );
      const settle: Settle = (error) => {
        if (!this.outstanding.delete(settle)) return;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      this.outstanding.set(settle, (kind, reason) => settle(new PublishFailedError(kind, message.id, reason)));
      try {
        channel.publish(
          this.settings.names.exchange,
          message.type,
          message.body,
          publishProperties(message, occurredAtMs),
          (err: unknown) => {
            if (err) return settle(new PublishFailedError('nacked', message.id, err instanceof Error ? err.message : JSON.stringify(err)));
            if (this.returned.delete(message.id)) return settle(new PublishFailedError('returned', message.id, 'unroutable'));
            settle();
          },
        );
      } catch (error) {
        settle(new PublishFailedError('channel-closed', message.id, (error as Error).message));
      }
    });
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
    for (const fail of [...this.outstanding.values()]) fail('channel-closed', reason);
  }
}
