import { RabbitMQConfig, RabbitMQModule } from '@golevelup/nestjs-rabbitmq';
import { DynamicModule, Global, Inject, Logger, Module, OnApplicationShutdown, Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import type Redis from 'ioredis';
import type { MessagingSettings } from './config';
import {
  BackgroundSubscription,
  ConsumerDrain,
  consumerHandlerOptions,
  DeadLetterQueue,
  createFailureRouter,
  IdempotentHandling,
  InFlightDeliveries,
  MESSAGING_CONSUMER,
  SubscriptionSupervisor,
} from './consuming';
import { DeadLetterIndex } from './dead-letters';
import { holdBoundFor, IdempotencyGuard, IdempotencyStore } from './idempotency';
import { ASYNC_OPTIONS_TYPE, ConfigurableModuleClass, MessagingModuleExtras, OPTIONS_TYPE } from './messaging-module-definition';
import { MESSAGING_REDIS, MESSAGING_SETTINGS } from './messaging.constants';
import { MessagingMetrics } from './metrics';
import { OutboxStore } from './outbox';
import { ConfirmedPublisher, ReliablePublisher } from './publishing';
import { createRedisClient, firstConnection, ReplicaAcks } from './redis';
import { ReplayJob } from './replay';
import { buildTopology, TopologyKeeper } from './topology';

/** `keeper` is given on the consuming side only: its failure router declares a missing topology again. */
function rabbitConfig(
  settings: MessagingSettings,
  metrics: MessagingMetrics,
  keeper?: TopologyKeeper,
  index?: DeadLetterIndex,
): RabbitMQConfig {
  const consuming = keeper !== undefined;
  const topology = buildTopology(settings);
  return {
    uri: settings.rabbitmqUrls,
    // Declared by the publisher and the topology keeper, tolerantly (topology-declaration.ts), not here:
    // golevelup fails its whole connection setup on one refused declaration.
    exchanges: [],
    queues: [],
    prefetchCount: settings.consumer.prefetch,
    // Start without the broker: the producer then sends to the outbox and both apps reconnect later.
    connectionInitOptions: { wait: false, skipConnectionFailedLogging: true },
    connectionManagerOptions: { heartbeatIntervalInSeconds: 5, reconnectTimeInSeconds: 1 },
    registerHandlers: consuming,
    enableDirectReplyTo: false,
    handlers: keeper
      ? { [MESSAGING_CONSUMER]: consumerHandlerOptions(settings, createFailureRouter(settings, topology, metrics, keeper, index)) }
      : {},
  };
}

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

const consumingProviders: Provider[] = [
  {
    provide: IdempotencyStore,
    inject: [MESSAGING_REDIS, MESSAGING_SETTINGS],
    useFactory: (redis: Redis, settings: MessagingSettings) =>
      new IdempotencyStore(redis, settings.names.redisKeyPrefix, settings.idempotency.ttlSeconds, new ReplicaAcks(redis, settings.redis)),
  },
  {
    provide: IdempotencyGuard,
    inject: [IdempotencyStore, MESSAGING_SETTINGS, MessagingMetrics],
    useFactory: (store: IdempotencyStore, settings: MessagingSettings, metrics: MessagingMetrics) =>
      new IdempotencyGuard(
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
];

/**
 * The library's entry point. `forRoot({ ...settings, withPublisher, withConsumer })` (or `forRootAsync`) wires
 * the golevelup connection with the declared topology, the shared Redis client, the metrics, and the
 * side(s) an app asks for: publishing (confirmed publisher, outbox, replay job) and/or consuming
 * (idempotency guard, failure router, graceful drain).
 */
@Global()
@Module({})
export class MessagingModule extends ConfigurableModuleClass implements OnApplicationShutdown {
  private readonly logger = new Logger(MessagingModule.name);

  constructor(@Inject(MESSAGING_REDIS) private readonly redis: Redis) {
    super();
  }

  static forRoot(options: typeof OPTIONS_TYPE): DynamicModule {
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
      providers: [...(base.providers ?? []), MessagingMetrics, redisProvider, ...sideProviders],
      exports: [MESSAGING_SETTINGS, MESSAGING_REDIS, MessagingMetrics, RabbitMQModule, ...sideProviders.map(providerToken)],
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
