import { RabbitMQModule } from '@golevelup/nestjs-rabbitmq';
import { DynamicModule, Global, Inject, Logger, Module, OnApplicationShutdown, Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import type Redis from 'ioredis';
import { resolveSubscriptions, type MessagingSettings, type SubscriptionSettings } from './config';
import {
  BackgroundSubscription,
  ConsumerDrain,
  DeadLetterQueue,
  IdempotencyGuards,
  IdempotentHandling,
  InFlightDeliveries,
  SubscriptionHandlersCheck,
  QueueDepthMetrics,
  SubscriptionSupervisor,
} from './consuming';
import { DeadLetterIndex } from './dead-letters';
import { holdBoundFor, IdempotencyGuard, IdempotencyStore } from './idempotency';
import { ASYNC_OPTIONS_TYPE, ConfigurableModuleClass, MessagingModuleExtras, OPTIONS_TYPE } from './messaging-module-definition';
import { MESSAGING_REDIS, MESSAGING_SETTINGS, MESSAGING_SUBSCRIPTIONS } from './messaging.constants';
import { MessagingMetrics } from './metrics';
import { OutboxStore } from './outbox';
import { ConfirmedPublisher, ReliablePublisher } from './publishing';
import { createRedisClient, firstConnection, ReplicaAcks } from './redis';
import { ReplayJob } from './replay';
import { rabbitConfig } from './rabbit-config';
import { TopologyKeeper } from './topology';

/** How long start-up waits for Redis before going on without it (it reconnects by itself). */
const FIRST_CONNECTION_BOUND_MS = 3000;

const redisProvider: Provider = {
  provide: MESSAGING_REDIS,
  inject: [MESSAGING_SETTINGS],
  useFactory: (settings: MessagingSettings) =>
    firstConnection(createRedisClient(settings.redisUrl, settings.redis.commandTimeoutMs, 'messaging'), FIRST_CONNECTION_BOUND_MS),
};

const publishingProviders: Provider[] = [
  {
    provide: OutboxStore,
    inject: [MESSAGING_REDIS, MESSAGING_SETTINGS],
    useFactory: (redis: Redis, settings: MessagingSettings) =>
      new OutboxStore(redis, settings.names.redisKeyPrefix, new ReplicaAcks(redis, settings.redis)),
  },
  ConfirmedPublisher,
  ReliablePublisher,
  ReplayJob,
];

/**
 * The guard's store of one key prefix. Commits close together share one script
 * (IDEMPOTENCY_COMMIT_BATCH_SIZE / _FLUSH_MS); without the batch timing every delivery would pay a
 * Redis round trip of its own.
 */
function createStore(redis: Redis, keyPrefix: string, settings: MessagingSettings, metrics: MessagingMetrics): IdempotencyStore {
  return new IdempotencyStore(
    redis,
    keyPrefix,
    settings.idempotency.ttlSeconds,
    new ReplicaAcks(redis, settings.redis),
    settings.idempotency.commitBatch,
    (size) => metrics.guardCommitBatchSize.observe(size),
  );
}

/** A guard over a store, with the settings' timing and the metrics' events. */
function createGuard(store: IdempotencyStore, settings: MessagingSettings, metrics: MessagingMetrics): IdempotencyGuard {
  return new IdempotencyGuard(
    store,
    {
      lockTtlMs: settings.idempotency.lockTtlMs,
      maxWaitMs: 1000,
      holdBoundMs: holdBoundFor(settings.consumer.brokerConsumerTimeoutMs),
    },
    {
      redisFailure: (kind) => metrics.guardRedisFailures.inc({ kind }),
      lockLost: (stage) => metrics.guardLockLost.inc({ stage }),
      handedBack: (reason) => metrics.guardHandedBack.inc({ reason }),
    },
  );
}

/** Resolved once at start: a subscription declared with a bad field stops the start, naming it. */
const subscriptionsProvider: Provider = {
  provide: MESSAGING_SUBSCRIPTIONS,
  inject: [MESSAGING_SETTINGS],
  useFactory: (settings: MessagingSettings) => resolveSubscriptions(settings),
};

const consumingProviders: Provider[] = [
  {
    provide: IdempotencyStore,
    inject: [MESSAGING_REDIS, MESSAGING_SETTINGS, MessagingMetrics],
    useFactory: (redis: Redis, settings: MessagingSettings, metrics: MessagingMetrics) =>
      createStore(redis, settings.names.redisKeyPrefix, settings, metrics),
  },
  {
    // The default subscription's guard, over the keys of earlier versions (the store above).
    provide: IdempotencyGuard,
    inject: [IdempotencyStore, MESSAGING_SETTINGS, MessagingMetrics],
    useFactory: (store: IdempotencyStore, settings: MessagingSettings, metrics: MessagingMetrics) => createGuard(store, settings, metrics),
  },
  {
    provide: IdempotencyGuards,
    inject: [IdempotencyGuard, MESSAGING_SUBSCRIPTIONS, MESSAGING_REDIS, MESSAGING_SETTINGS, MessagingMetrics],
    useFactory: (
      guard: IdempotencyGuard,
      subscriptions: SubscriptionSettings[],
      redis: Redis,
      settings: MessagingSettings,
      metrics: MessagingMetrics,
    ) =>
      new IdempotencyGuards(
        guard,
        subscriptions,
        (prefix) => createGuard(createStore(redis, prefix, settings, metrics), settings, metrics),
        settings.names.redisKeyPrefix,
      ),
  },
  {
    provide: DeadLetterIndex,
    inject: [MESSAGING_REDIS, MESSAGING_SETTINGS],
    useFactory: (redis: Redis, settings: MessagingSettings) => new DeadLetterIndex(redis, settings.names.redisKeyPrefix),
  },
  InFlightDeliveries,
  IdempotentHandling,
  TopologyKeeper,
  SubscriptionSupervisor,
  ConsumerDrain,
  DeadLetterQueue,
  BackgroundSubscription,
  SubscriptionHandlersCheck,
  QueueDepthMetrics,
];

/**
 * The library's entry point. `forRoot({ ...settings, subscriptions, withPublisher, withConsumer })` (or
 * `forRootAsync`) wires the golevelup connection with the declared topology, the shared Redis client,
 * the metrics, and the side(s) an app asks for: publishing (confirmed publisher, outbox, replay job)
 * and/or consuming (a guard per subscription, a failure router per subscription, graceful drain).
 * `subscriptions` (MessagingSettings.subscriptions) lists the SubscriptionDefinitions the app declares
 * in code; without it the app has the default subscription alone.
 */
@Global()
@Module({})
export class MessagingModule extends ConfigurableModuleClass implements OnApplicationShutdown {
  private readonly logger = new Logger(MessagingModule.name);

  constructor(@Inject(MESSAGING_REDIS) private readonly redis: Redis) {
    super();
  }

  static forRoot(options: typeof OPTIONS_TYPE): DynamicModule {
    // The subscriptions are checked here, before Nest starts, so that a bad declaration stops the start
    // with one line naming its field (InvalidConfigurationError, see exitOnStartFailure), as a bad
    // variable does; inside Nest's injector it came with Nest's own error and stack. forRootAsync's
    // settings are known only in the injector: its provider checks them there.
    resolveSubscriptions(options);
    return MessagingModule.compose(super.forRoot(options), options);
  }

  static forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return MessagingModule.compose(super.forRootAsync(options), options);
  }

  private static compose(base: DynamicModule, extras: Partial<MessagingModuleExtras>): DynamicModule {
    const consuming = extras.withConsumer ?? false;
    const publishing = extras.withPublisher ?? false;
    const sideProviders = [...(publishing ? publishingProviders : []), ...(consuming ? consumingProviders : [])];
    return {
      ...base,
      global: true,
      imports: [
        ...(base.imports ?? []),
        RabbitMQModule.forRootAsync({
          inject: [MESSAGING_SETTINGS, MessagingMetrics, ...(consuming ? [TopologyKeeper, DeadLetterIndex] : [])],
          useFactory: (settings: MessagingSettings, metrics: MessagingMetrics, keeper?: TopologyKeeper, index?: DeadLetterIndex) =>
            rabbitConfig(settings, metrics, keeper, index),
        }),
        ...(publishing ? [ScheduleModule.forRoot()] : []),
        ...(consuming ? [DiscoveryModule] : []),
      ],
      providers: [...(base.providers ?? []), MessagingMetrics, redisProvider, subscriptionsProvider, ...sideProviders],
      exports: [
        MESSAGING_SETTINGS,
        MESSAGING_REDIS,
        MESSAGING_SUBSCRIPTIONS,
        MessagingMetrics,
        RabbitMQModule,
        ...sideProviders.map(providerToken),
      ],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
    this.logger.log('Redis connection closed');
  }
}

function providerToken(provider: Provider): Provider | string | symbol {
  return typeof provider === 'function' ? provider : (provider.provide as string | symbol);
}
