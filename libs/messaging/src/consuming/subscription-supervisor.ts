import { AmqpConnection, Nack } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { ExternalContextCreator } from '@nestjs/core';
import type { Channel, ChannelModel } from 'amqplib';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { SubscriptionSettings } from '../config';
import { MESSAGING_SUBSCRIPTIONS } from '../messaging.constants';
import { MessagingMetrics } from '../metrics';
import { TopologyKeeper } from '../topology';
import { ignoreFramesOfClosedChannels } from './closed-channel-frames';
import { globalEnhancersOf } from './direct-handlers';
import { IdempotentHandling } from './idempotent-handling';
import type { GolevelupConsumer, GolevelupInternals, Handler, WrapperInternals } from './library-internals';
import { recoverStalled } from './stalled-subscription';

type LostCause = 'channel_closed' | 'cancelled';

interface Subscription {
  queue: string;
  consumerTag?: string;
  channel?: Channel;
  /** The managed channel its handler consumes on, once golevelup was handed the handler. */
  wrapper?: ChannelWrapper;
  lost?: { cause: LostCause | 'not_started'; detail: string; since: number };
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
const STALL_CHECK_MS = 2_500;
const notStarted = () => ({ cause: 'not_started' as const, detail: 'not subscribed yet', since: Date.now() });

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
 * - a subscription left without a consumer by anything else (a setup that never completed, a
 *   recovery that raced a reconnect) is found by a periodic check and its channel recycled;
 * - `stopConsuming()` cancels every consumer by its tag (amqp-connection-manager's cancelAll does
 *   not know golevelup's consumers), and from then on a delivery that arrives is handed back
 *   unprocessed (nack, requeue) instead of starting.
 */
@Injectable()
export class SubscriptionSupervisor implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(SubscriptionSupervisor.name);
  private readonly subscriptions = new Map<string, Subscription>();
  /** Live consumers by tag, with the channel each was registered on. */
  private readonly consumers = new Map<string, { queue: string; channel: Channel }>();
  private readonly watched = new WeakSet<Channel>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private retries = 0;
  private stopping = false;
  private stallCheck?: NodeJS.Timeout;

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
    for (const { queue } of declared) this.subscriptions.set(queue, { queue, lost: notStarted() });
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
      const subscription = this.subscriptions.get(queue) ?? { queue, lost: notStarted() };
      this.subscriptions.set(queue, subscription);
      const channelName = options.queueOptions?.channel;
      subscription.wrapper = (channelName && this.amqp.managedChannels[channelName]) || this.amqp.managedChannel;
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
    this.stallCheck = setInterval(() => {
      if (this.stopping) return;
      const connected = Boolean(this.amqp.managedConnection?.connection);
      const context = { connected, recoveryPending: this.timers.size > 0, logger: this.logger };
      recoverStalled(this.subscriptions.values(), context, (wrapper) => this.later(() => this.reopen(wrapper), 0));
    }, STALL_CHECK_MS).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.stallCheck);
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
    clearInterval(this.stallCheck);
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
      Object.assign(subscription, {
        consumerTag: undefined,
        channel: undefined,
        lost: { cause: 'channel_closed', detail, since: Date.now() },
      });
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
    // The wait above can span a reconnect: amqp-connection-manager may have opened the channel (a
    // second one would leave two consumers and a channel nobody tracks), or the connection may be
    // another one now (opening on the old one fails and clears the wrapper's state).
    if (this.stopping || internals._channel || internals._settingUp || this.amqp.managedConnection?.connection !== connection) return;
    await internals._onConnect({ connection });
    if (!internals._channel) this.later(() => this.reopen(wrapper));
  }

  private cancelledByBroker(consumerTag: string): void {
    const consumer = this.consumers.get(consumerTag);
    this.consumers.delete(consumerTag);
    const subscription = consumer && this.subscriptions.get(consumer.queue);
    if (!subscription || subscription.consumerTag !== consumerTag) return;
    const detail = 'consumer cancelled by the broker (queue deleted?)';
    Object.assign(subscription, { consumerTag: undefined, lost: { cause: 'cancelled', detail, since: Date.now() } });
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
  private later(step: () => Promise<void>, delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(this.retries++, 10))): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      step().catch((error: Error) => this.logger.error({ error: error.message }, 'consumer recovery step failed'));
    }, delay);
    this.timers.add(timer);
  }
}
