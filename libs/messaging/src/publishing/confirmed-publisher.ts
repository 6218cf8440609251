import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import type { Gauge } from 'prom-client';
import type { MessagingSettings } from '../config';
import { publishProperties, type WireMessage } from '../envelope';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { MessagingMetrics } from '../metrics';
import { buildTopology, declareTopology } from '../topology';
import { ConfirmWindow, type InFlightPublish, type PublishAnswer } from './confirm-window';
import { PublishFailedError } from './publish-errors';

/** amqplib answers a nack with this error; every other error it gives a confirm callback means the channel closed. */
const AMQPLIB_NACK = 'message nacked';

/** Makes a gauge take its value from `read` each time the registry collects it (prom-client calls `collect` then). */
function readOnScrape(gauge: Gauge, read: () => number): void {
  (gauge as Gauge & { collect?: () => void }).collect = () => gauge.set(read());
}

/** How long after a channel closed by itself another is opened. */
const REOPEN_DELAY_MS = 500;

/**
 * Publishes on a confirm channel of its own, on the connection golevelup manages, and resolves only
 * when the broker confirmed the message. Every other ending rejects, promptly (see PublishFailedError):
 *  - not ready (no open channel, or the broker blocks the connection during a resource alarm): at
 *    once, without sending, so the caller goes to the outbox instead of waiting for a confirm that
 *    cannot come;
 *  - the in-flight bounds reached (PUBLISH_MAX_IN_FLIGHT, PUBLISH_MAX_IN_FLIGHT_BYTES): at once;
 *  - nack, or a mandatory message returned as unroutable (the return precedes its ack);
 *  - the channel closing with the confirm outstanding (settled here, not left to amqplib);
 *  - no confirm within the timeout.
 * Nothing is kept in memory for a later resend: a failed send is the caller's to store.
 *
 * amqplib's ConfirmChannel.publish registers the confirm callback before it encodes the message, so a
 * publish that throws leaves a callback no delivery tag will ever match, and every later confirm on
 * that channel would be given to the publish before it. Such a channel is retired at once: its
 * publishes in flight fail, it is closed and a fresh one is opened.
 */
@Injectable()
export class ConfirmedPublisher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ConfirmedPublisher.name);
  private channel?: ConfirmChannel;
  private opening = false;
  private closed = false;
  /** The broker's reason while it blocks the connection (connection.blocked), e.g. 'low on memory'. */
  private blockedBy?: string;
  private readonly returned = new Set<string>();
  private readonly window: ConfirmWindow;
  private readonly lateConfirmListeners: ((messageId: string) => void)[] = [];

  constructor(
    private readonly amqp: AmqpConnection,
    @Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings,
    private readonly metrics: MessagingMetrics,
  ) {
    this.window = new ConfirmWindow(settings.publishing, {
      failed: (error) => metrics.publishFailures.inc({ kind: error.kind }),
      lateConfirm: (messageId) => {
        metrics.lateConfirms.inc();
        for (const listener of this.lateConfirmListeners) listener(messageId);
      },
    });
    // Read when /metrics is scraped: setting two gauges on every publish and every confirm cost more than the window itself.
    readOnScrape(metrics.publishInFlight, () => this.window.size);
    readOnScrape(metrics.publishInFlightBytes, () => this.window.byteCount);
  }

  onApplicationBootstrap(): void {
    const manager = this.amqp.managedConnection;
    manager.on('connect', ({ connection }) => {
      this.setBlocked(undefined);
      void this.openChannel(connection as unknown as ChannelModel);
    });
    manager.on('disconnect', () => {
      this.setBlocked(undefined);
      this.dropChannel('connection lost');
    });
    manager.on('blocked', ({ reason }: { reason?: string }) => this.setBlocked(reason || 'no reason given'));
    manager.on('unblocked', () => this.setBlocked(undefined));
    if (manager.connection) void this.openChannel(manager.connection);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    const channel = this.channel;
    this.dropChannel('shutting down');
    this.window.stop();
    await channel?.close().catch(() => undefined);
  }

  /** True when a publish can be attempted now. */
  isReady(): boolean {
    return this.notReadyReason() === undefined;
  }

  /** Why a publish cannot be attempted now (for readiness), or undefined when it can. */
  notReadyReason(): string | undefined {
    if (this.closed) return 'publisher shut down';
    if (this.blockedBy !== undefined) return `broker connection blocked: ${this.blockedBy}`;
    if (!this.channel) return this.amqp.managedConnection?.isConnected() ? 'publisher channel not open' : 'broker not connected';
    return undefined;
  }

  /** Called with the id of every message confirmed after its publish had timed out. */
  onLateConfirm(listener: (messageId: string) => void): void {
    this.lateConfirmListeners.push(listener);
  }

  publish(message: WireMessage, occurredAtMs?: number): Promise<void> {
    return new Promise<void>((resolve, reject) => this.send(message, occurredAtMs, (error) => (error ? reject(error) : resolve())));
  }

  /**
   * publish() with a callback instead of a promise, for a caller that sends thousands a second (the
   * replay job): `answer` is called once, with the same outcomes publish() rejects with, and may be
   * called before send returns (a publish refused at once).
   */
  send(message: WireMessage, occurredAtMs: number | undefined, answer: PublishAnswer): void {
    const notReady = this.notReadyReason();
    if (notReady !== undefined)
      return this.refuse(this.blockedBy !== undefined ? 'blocked' : 'not-connected', message.id, notReady, answer);
    const full = this.window.refusal(message.body.length);
    if (full !== undefined) return this.refuse('backpressure', message.id, full, answer);
    let properties: ReturnType<typeof publishProperties>;
    try {
      properties = publishProperties(message, occurredAtMs);
    } catch (error) {
      return this.refuse('unpublishable', message.id, (error as Error).message, answer);
    }
    const channel = this.channel as ConfirmChannel;
    const publish = this.window.add(message.id, message.body.length, answer);
    try {
      channel.publish(this.settings.names.exchange, message.type, message.body, properties, (err: unknown) =>
        this.window.settle(publish, this.outcome(err, publish, channel)),
      );
    } catch (error) {
      const closed = (error as Error).name === 'IllegalOperationError';
      this.window.settle(
        publish,
        new PublishFailedError(closed ? 'channel-closed' : 'unpublishable', message.id, (error as Error).message),
      );
      this.retire(channel, (error as Error).message);
    }
  }

  private outcome(err: unknown, publish: InFlightPublish, channel: ConfirmChannel): 'confirmed' | PublishFailedError {
    if (err) {
      const detail = err instanceof Error ? err.message : JSON.stringify(err);
      return new PublishFailedError(detail === AMQPLIB_NACK ? 'nacked' : 'channel-closed', publish.messageId, detail);
    }
    if (this.channel === channel && this.returned.delete(publish.messageId)) {
      return new PublishFailedError('returned', publish.messageId, 'unroutable');
    }
    return 'confirmed';
  }

  private refuse(kind: PublishFailedError['kind'], messageId: string, detail: string, answer: PublishAnswer): void {
    const error = new PublishFailedError(kind, messageId, detail);
    this.metrics.publishFailures.inc({ kind });
    answer(error);
  }

  private setBlocked(reason: string | undefined): void {
    if (reason === this.blockedBy) return;
    if (reason !== undefined) this.logger.warn(`broker blocks the publishing connection (${reason}): new messages go to the outbox`);
    else if (this.blockedBy !== undefined) this.logger.log('broker no longer blocks the publishing connection');
    this.blockedBy = reason;
    this.metrics.brokerBlocked.set(reason !== undefined ? 1 : 0);
  }

  /** A channel whose confirms can no longer be matched to their publishes: fail them, close it, open another. */
  private retire(channel: ConfirmChannel, reason: string): void {
    if (this.channel !== channel) return;
    this.logger.warn(`publisher channel retired after a publish threw: ${reason}`);
    this.dropChannel(`channel retired: ${reason}`);
    void channel.close().catch(() => undefined);
    const connection = this.amqp.managedConnection?.connection;
    if (connection) void this.openChannel(connection);
  }

  private async openChannel(connection: ChannelModel): Promise<void> {
    if (this.opening || this.channel || this.closed) return;
    this.opening = true;
    try {
      // Declared on channels of their own first: a refused declaration closes its channel, and one
      // that cannot be made (a cluster node down, a queue with other arguments) must not keep the
      // publisher off the broker. Publishes to an exchange that is missing fail and go to the outbox.
      const { failures, kept } = await declareTopology(connection, buildTopology(this.settings));
      if (failures.length > 0) this.logger.warn({ failures }, 'could not declare all of the topology; publishing anyway');
      if (kept.length > 0) this.logger.warn({ kept }, 'topology objects exist with other arguments: kept as they are');
      const channel = await connection.createConfirmChannel();
      channel.on('return', (returned: Message) => {
        const id = returned.properties.messageId as string | undefined;
        if (id && this.channel === channel) this.returned.add(id);
      });
      channel.on('error', (error: Error) => this.logger.warn(`publisher channel error: ${error.message}`));
      channel.on('close', () => {
        if (this.channel === channel) this.dropChannel('channel closed');
        this.reopenLater();
      });
      if (this.closed) {
        await channel.close().catch(() => undefined);
        return;
      }
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
    }, REOPEN_DELAY_MS).unref();
  }

  private dropChannel(reason: string): void {
    this.channel = undefined;
    this.returned.clear();
    this.window.releaseAll('channel-closed', reason);
  }
}
