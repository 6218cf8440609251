import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Logger, OnModuleInit, Optional } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { ConsumeMessage } from 'amqplib';
import { logsInfo, type MessagingSettings } from '../config';
import { correlationIdOfDelivery, type MessageEnvelope } from '../envelope';
import type { EffectMode, GuardOutcome } from '../idempotency';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { MessagingMetrics } from '../metrics';
import { noteDeliveryResult, traceDelivery } from '../spans';
import { coalesceAcks } from './coalesced-acks';
import { DirectHandlers } from './direct-handlers';
import { attemptOf } from './failure-router';
import { IdempotencyGuards } from './idempotency-guards';
import { IDEMPOTENT_HANDLING, IDEMPOTENT_MODE, type GuardedRun } from './idempotent.decorator';
import { InFlightDeliveries } from './in-flight-deliveries';

/**
 * Runs an @Idempotent handler inside the idempotency guard. Returning normally lets golevelup
 * acknowledge the delivery (after the work and its done mark); throwing hands the delivery to the
 * failure router. At start it puts itself on every provider and controller that has @Idempotent
 * handlers, where the wrapped handlers find it, and makes the consuming channels coalesce their acks
 * (coalesced-acks.ts): the deliveries whose commits returned together are acknowledged together.
 */
@Injectable()
export class IdempotentHandling implements GuardedRun, OnModuleInit {
  private readonly logger = new Logger('MessageConsumer');
  /**
   * One info line per delivery, so an operator can follow a correlation id from the producer's line to
   * the consumer's; at LOG_LEVEL=warn (where volume matters more than the trail) its fields are not
   * even gathered.
   */
  private readonly infoEnabled: boolean;
  /** The guarded handlers golevelup may call without Nest's pipeline (see DirectHandlers; used by SubscriptionSupervisor). */
  readonly direct = new DirectHandlers();

  constructor(
    private readonly guards: IdempotencyGuards,
    private readonly inFlight: InFlightDeliveries,
    private readonly metrics: MessagingMetrics,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    @Inject(MESSAGING_SETTINGS) settings: MessagingSettings,
    @Optional() private readonly amqp?: AmqpConnection,
  ) {
    this.infoEnabled = logsInfo(settings);
  }

  onModuleInit(): void {
    if (this.amqp) coalesceAcks(this.amqp, this.inFlight);
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      const instance = wrapper.instance as Record<symbol, unknown> | undefined;
      if (!instance || typeof instance !== 'object') continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      const guarded = this.scanner
        .getAllMethodNames(prototype)
        .filter((name) => Reflect.getMetadata(IDEMPOTENT_MODE, prototype[name] as object) !== undefined);
      if (guarded.length > 0) Object.defineProperty(instance, IDEMPOTENT_HANDLING, { value: this });
      for (const name of guarded) this.direct.add(instance, name);
    }
  }

  run(
    envelope: MessageEnvelope,
    delivery: ConsumeMessage | undefined,
    mode: EffectMode,
    work: () => unknown,
    keyspace?: string,
  ): Promise<void> {
    if (delivery === undefined) return this.handle(envelope, delivery, mode, work, keyspace);
    return traceDelivery(envelope.id, delivery, () => this.handle(envelope, delivery, mode, work, keyspace));
  }

  /**
   * One async frame for the whole handling (the in-flight count, the handler's timing, the guard),
   * rather than one per concern: each frame is a promise and a microtask per delivery, and at tens
   * of thousands of deliveries a second they add up (BENCHMARKS.md).
   */
  private async handle(
    envelope: MessageEnvelope,
    delivery: ConsumeMessage | undefined,
    mode: EffectMode,
    work: () => unknown,
    keyspace: string | undefined,
  ): Promise<void> {
    this.inFlight.hold(1);
    try {
      const guard = this.guards.of(keyspace);
      const started = performance.now();
      let outcome: GuardOutcome;
      if (mode === 'atomic') {
        let result: unknown;
        try {
          result = work();
          // A handler that returns its effect without a promise is not awaited: an await costs a
          // microtask turn per delivery even for a plain value.
          if (isPromiseLike(result)) result = await result;
        } finally {
          this.metrics.handlerDuration.observe((performance.now() - started) / 1000);
        }
        outcome = await guard.commitEffect(envelope.id, result, started);
      } else {
        outcome = await guard.run(envelope.id, mode, async () => {
          try {
            return await work();
          } finally {
            this.metrics.handlerDuration.observe((performance.now() - started) / 1000);
          }
        });
      }
      this.metrics.countConsumed(outcome);
      noteDeliveryResult(outcome);
      if (this.infoEnabled) {
        const message = outcome === 'duplicate' ? 'duplicate delivery acknowledged without running the handler' : 'message processed';
        this.logger.log(describe(envelope, delivery), message);
      }
    } finally {
      this.inFlight.release(1);
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

function describe(envelope: MessageEnvelope, delivery: ConsumeMessage | undefined): Record<string, unknown> {
  return {
    messageId: envelope.id,
    correlationId: delivery ? correlationIdOfDelivery(delivery.properties) : undefined,
    type: envelope.type,
    attempt: delivery ? attemptOf(delivery) : undefined,
    redelivered: delivery?.fields.redelivered,
  };
}
