import { AmqpConnection, Nack, type MessageHandlerOptions } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Logger, OnModuleInit, Optional } from '@nestjs/common';
import { ExternalContextCreator } from '@nestjs/core';
import type { Channel, ChannelModel } from 'amqplib';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { SubscriptionSettings } from '../config';
import { MESSAGING_SUBSCRIPTIONS } from '../messaging.constants';
import { MessagingMetrics } from '../metrics';
import { TopologyKeeper } from '../topology';
import { globalEnhancersOf } from './direct-handlers';
import { IdempotentHandling } from './idempotent-handling';

type Handler = (message: unknown, delivery?: unknown, headers?: unknown) => Promise<unknown>;

/** What golevelup 9 keeps per consumer (`registerConsumerForQueue`), and the internals used here. */
interface GolevelupConsumer {
  type: string;
  consumerTag: string;
  msgOptions: MessageHandlerOptions;
  channel: Channel;
}
interface GolevelupInternals {
  createSubscriber(handler: Handler, options: MessageHandlerOptions, name: string, consumeOptions?: unknown): Promise<unknown>;
  registerConsumerForQueue(consumer: GolevelupConsumer): void;
  unregisterConsumerForQueue(consumerTag: string): void;
}
/** amqp-connection-manager 5's ChannelWrapper: its current channel and the step that opens one. */
interface WrapperInternals {
  _channel?: Channel;
  _settingUp?: Promise<void>;
  _onConnect(event: { connection: ChannelModel }): Promise<void>;
}

type LostCause = 'channel_closed' | 'cancelled';

interface Subscription {
  queue: string;
  consumerTag?: string;
  channel?: Channel;
  lost?: { cause: LostCause | 'not_started'; detail: string };
}

/** amqplib 0.10's connection under its ChannelModel: the frame dispatch and the open channels by number. */
interface AmqplibConnection {
  accept?: (frame: { channel?: number }) => unknown;
  channels?: unknown[];
}

/**
 * After the broker closes a channel (consumer_timeout, a 404 on a publish) amqplib releases its number
 * at once, but the broker can still send frames for it that were on their way (deliveries from a quorum
 * queue): amqplib then closes the whole connection ("Frame on unknown channel"), measured in about one
 * run in three. Those frames belong to a channel that is gone; the broker requeues their messages, so
 * they are dropped here instead.
 */
const tolerant = new WeakSet<object>();
function ignoreFramesOfClosedChannels(model: ChannelModel): void {
  const connection = (model as unknown as { connection?: AmqplibConnection }).connection;
  const accept = connection?.accept;
  if (!connection || tolerant.has(connection) || typeof accept !== 'function' || !Array.isArray(connection.channels)) return;
  tolerant.add(connection);
  connection.accept = function (this: AmqplibConnection, frame: { channel?: number }) {
    if (frame.channel && !this.channels?.[frame.channel]) return undefined;
    return accept.call(this, frame);
  };
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/**
 * Keeps every golevelup subscription consuming, and stops them all at shutdown.
 *
 * golevelup consumes on the raw amqplib channel of its managed channel, so amqp-connection-manager
 * restores nothing on its own but a whole lost connection. Here:
 * - every channel gets an `error` listener: without one amqplib throws a broker-closed channel's
 *   error (consumer_timeout, a precondition failure) into its frame loop and drops the connection;
 * - a consuming channel closed while the connection stays up is opened again (golevelup's setups
 *   run on it: the topology is declared and the handlers subscribe), with backoff;
 * - a consumer the broker cancelled (its queue deleted) is subscribed again once the topology is
 *   declared again (golevelup only ignores the null delivery amqplib hands it);
 * - `state()` says which subscription has no active consumer (readiness is 503 meanwhile);
 * - `stopConsuming()` cancels every consumer by its tag (amqp-connection-manager's cancelAll does
 *   not know golevelup's consumers), and from then on a delivery that arrives is handed back
 *   unprocessed (nack, requeue) instead of starting.
 */
@Injectable()
export class SubscriptionSupervisor implements OnModuleInit {
  private readonly logger = new Logger(SubscriptionSupervisor.name);
  private readonly subscriptions = new Map<string, Subscription>();
  /** Live consumers by tag, with the channel each was registered on. */
  private readonly consumers = new Map<string, { queue: string; channel: Channel }>();
  private readonly watched = new WeakSet<Channel>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private retries = 0;
  private stopping = false;

  constructor(
    private readonly amqp: AmqpConnection,
    private readonly topology: TopologyKeeper,
    private readonly metrics: MessagingMetrics,
    @Optional() @Inject(MESSAGING_SUBSCRIPTIONS) declared: SubscriptionSettings[] = [],
    @Optional() private readonly handling?: IdempotentHandling,
    @Optional() private readonly contexts?: ExternalContextCreator,
  ) {
    // Each declared subscription counts from the start: one whose handler never subscribes (none was
    // given, or its queue cannot be consumed) keeps readiness down, naming its queue.
    for (const { queue } of declared)
      this.subscriptions.set(queue, { queue, lost: { cause: 'not_started', detail: 'not subscribed yet' } });
  }

  onModuleInit(): void {
    this.topology.bind(() => this.amqp.managedConnection?.connection);
    this.metrics.readQueueConsumersFrom(() => this.activeConsumers());
    const internals = this.amqp as unknown as GolevelupInternals;
    if (typeof internals.registerConsumerForQueue !== 'function' || typeof internals.unregisterConsumerForQueue !== 'function') {
      throw new Error('SubscriptionSupervisor: this golevelup version keeps no consumer registry (expected 9.x)');
    }
    const createSubscriber = internals.createSubscriber.bind(this.amqp);
    internals.createSubscriber = (handler, options, name, consumeOptions) => {
      const queue = options.queue ?? name;
      if (!this.subscriptions.has(queue))
        this.subscriptions.set(queue, { queue, lost: { cause: 'not_started', detail: 'not subscribed yet' } });
      const direct = this.handling?.direct.handlerFor((options as { name?: string }).name, globalEnhancersOf(this.contexts));
      const inner = direct ?? handler;
      const gated: Handler = (message, delivery, headers) =>
        this.stopping ? Promise.resolve(new Nack(true)) : inner(message, delivery, headers);
      return createSubscriber(gated, options, name, consumeOptions);
    };
    const register = internals.registerConsumerForQueue.bind(this.amqp);
    internals.registerConsumerForQueue = (consumer) => {
      register(consumer);
      if (consumer.type === 'subscribe') this.started(consumer);
    };
    const current = this.amqp.managedConnection?.connection;
    if (current) ignoreFramesOfClosedChannels(current);
    // The topology is declared here at every connect (not in golevelup's setup, where one refused
    // declaration, e.g. a queue whose cluster node is down, keeps the whole app off the broker).
    if (current) void this.topology.ensure('connected');
    this.amqp.managedConnection?.on('connect', ({ connection }: { connection: ChannelModel }) => {
      ignoreFramesOfClosedChannels(connection);
      void this.topology.ensure('connected');
    });
    // golevelup logs a lost connection without its cause (Nest's logger drops the stack argument).
    this.amqp.managedConnection?.on('disconnect', ({ err }: { err?: Error }) =>
      this.logger.warn({ error: err?.message }, 'broker connection lost; consuming resumes after the reconnect'),
    );
    for (const wrapper of Object.values(this.amqp.managedChannels)) {
      if (typeof (wrapper as unknown as WrapperInternals)._onConnect !== 'function') {
        throw new Error('SubscriptionSupervisor: this amqp-connection-manager version cannot reopen a channel (expected 5.x)');
      }
      void wrapper.addSetup((channel: Channel) => this.watch(wrapper, channel)).catch(() => undefined);
    }
  }

  /** Up when every subscription has an active consumer. */
  state(): { up: boolean; detail?: string } {
    if (this.stopping) return { up: false, detail: 'stopping: consumers cancelled' };
    const lost = [...this.subscriptions.values()].filter((s) => !s.consumerTag);
    if (lost.length === 0) return { up: true };
    return { up: false, detail: lost.map((s) => `no active consumer on ${s.queue} (${s.lost?.detail ?? 'unknown'})`).join('; ') };
  }

  /** Per subscribed queue: 1 while it has an active consumer of this process, else 0 (messaging_queue_consumers). */
  private *activeConsumers(): Iterable<[string, number]> {
    for (const subscription of this.subscriptions.values()) yield [subscription.queue, !this.stopping && subscription.consumerTag ? 1 : 0];
  }

  /** Cancels every consumer; deliveries arriving from now on are handed back without running. */
  async stopConsuming(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const consumers = [...this.consumers.entries()];
    await Promise.all(consumers.map(([tag, { channel }]) => this.cancel(channel, tag)));
    this.logger.log({ consumers: consumers.length }, 'consumers cancelled');
  }

  private started(consumer: GolevelupConsumer): void {
    const queue = consumer.msgOptions.queue ?? consumer.consumerTag;
    this.consumers.set(consumer.consumerTag, { queue, channel: consumer.channel });
    if (this.stopping) {
      // A reconnect during the stop re-ran golevelup's setup: this consumer must not take work.
      void this.cancel(consumer.channel, consumer.consumerTag);
      return;
    }
    const subscription = this.subscriptions.get(queue) ?? { queue };
    this.subscriptions.set(queue, subscription);
    const lost = subscription.lost;
    Object.assign(subscription, { consumerTag: consumer.consumerTag, channel: consumer.channel, lost: undefined });
    if (lost && lost.cause !== 'not_started') {
      this.metrics.consumerRecoveries.inc({ cause: lost.cause });
      this.logger.warn({ queue, cause: lost.cause }, 'consumer subscribed again');
    }
    if ([...this.subscriptions.values()].every((s) => s.consumerTag)) this.retries = 0;
  }

  private watch(wrapper: ChannelWrapper, channel: Channel): void {
    if (this.watched.has(channel)) return;
    this.watched.add(channel);
    let brokerError: Error | undefined;
    channel.on('error', (error: Error) => {
      brokerError = error;
      this.logger.warn({ error: error.message }, 'the broker closed the consuming channel');
    });
    channel.on('close', () => this.channelClosed(wrapper, channel, brokerError));
    channel.on('cancel', (fields: { consumerTag: string }) => this.cancelledByBroker(fields.consumerTag));
  }

  private channelClosed(wrapper: ChannelWrapper, channel: Channel, error: Error | undefined): void {
    const internals = this.amqp as unknown as GolevelupInternals;
    for (const [tag, consumer] of this.consumers) {
      if (consumer.channel !== channel) continue;
      this.consumers.delete(tag);
      internals.unregisterConsumerForQueue(tag);
    }
    for (const subscription of this.subscriptions.values()) {
      if (subscription.channel !== channel) continue;
      const detail = error ? `channel closed by the broker: ${error.message}` : 'channel closed';
      Object.assign(subscription, { consumerTag: undefined, channel: undefined, lost: { cause: 'channel_closed', detail } });
    }
    if (!this.stopping) this.later(() => this.reopen(wrapper));
  }

  /**
   * Opens the wrapper's channel again, as amqp-connection-manager does after a reconnect. Nothing to
   * do when it has a channel by now (a reconnect did it) or the connection is down (the reconnect
   * will).
   */
  private async reopen(wrapper: ChannelWrapper): Promise<void> {
    const internals = wrapper as unknown as WrapperInternals;
    const connection = this.amqp.managedConnection?.connection;
    if (this.stopping || internals._channel || internals._settingUp || !connection) return;
    this.logger.warn('opening the consuming channel again');
    // A broker-closed channel often means a missing piece (a copy sent to a deleted exchange): the
    // topology is declared again first, so the reopened channel does not run into the same wall.
    await this.topology.ensure('consuming channel closed by the broker');
    await internals._onConnect({ connection });
    if (!internals._channel) this.later(() => this.reopen(wrapper));
  }

  private cancelledByBroker(consumerTag: string): void {
    const consumer = this.consumers.get(consumerTag);
    this.consumers.delete(consumerTag);
    const subscription = consumer && this.subscriptions.get(consumer.queue);
    if (!subscription || subscription.consumerTag !== consumerTag) return;
    const detail = 'consumer cancelled by the broker (queue deleted?)';
    Object.assign(subscription, { consumerTag: undefined, lost: { cause: 'cancelled', detail } });
    this.logger.warn({ queue: subscription.queue }, detail);
    if (!this.stopping) this.later(() => this.resubscribe(subscription, consumerTag));
  }

  /** Declares the topology again (on a channel of its own), then subscribes on the same channel. */
  private async resubscribe(subscription: Subscription, oldTag: string): Promise<void> {
    // A closed channel is the reopen's to restore; a live consumer needs nothing.
    if (this.stopping || subscription.consumerTag || !subscription.channel) return;
    const retry = () => this.later(() => this.resubscribe(subscription, oldTag));
    if (!(await this.topology.ensure(`consumer on ${subscription.queue} cancelled by the broker`))) return retry();
    try {
      await this.amqp.resumeConsumer(oldTag);
    } catch (error) {
      this.logger.warn({ queue: subscription.queue, error: (error as Error).message }, 'could not subscribe again');
      retry();
    }
  }

  private async cancel(channel: Channel, consumerTag: string): Promise<void> {
    this.consumers.delete(consumerTag);
    await channel.cancel(consumerTag).catch(() => undefined);
  }

  /** Runs a recovery step after a backoff (500 ms doubling to 30 s, reset once all are consuming). */
  private later(step: () => Promise<void>): void {
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(this.retries++, 10));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      step().catch((error: Error) => this.logger.error({ error: error.message }, 'consumer recovery step failed'));
    }, delay);
    this.timers.add(timer);
  }
}
