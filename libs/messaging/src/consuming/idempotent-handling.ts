import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Logger, OnModuleInit, Optional } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { ConsumeMessage } from 'amqplib';
import { logsInfo, type MessagingSettings } from '../config';
import { correlationIdOfDelivery, type MessageEnvelope } from '../envelope';
import type { EffectMode } from '../idempotency';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { MessagingMetrics } from '../metrics';
import { noteDeliveryResult, traceDelivery } from '../spans';
import { coalesceAcks } from './coalesced-acks';
import { attemptOf } from './failure-router';
import { IdempotencyGuards } from './idempotency-guards';
import { IDEMPOTENT_HANDLING, IDEMPOTENT_MODE, type GuardedRun } from './idempotent.decorator';
import { InFlightDeliveries } from './in-flight-deliveries';

/** The consumed counter's label sets, made once rather than per message (never changed). */
const OUTCOME_LABELS = { processed: { result: 'processed' }, duplicate: { result: 'duplicate' } } as const;

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
        .some((name) => Reflect.getMetadata(IDEMPOTENT_MODE, prototype[name] as object) !== undefined);
      if (guarded) Object.defineProperty(instance, IDEMPOTENT_HANDLING, { value: this });
    }
  }

  run(
    envelope: MessageEnvelope,
    delivery: ConsumeMessage | undefined,
    mode: EffectMode,
    work: () => Promise<unknown>,
    keyspace?: string,
  ): Promise<void> {
    return this.inFlight.track(() => traceDelivery(envelope.id, delivery, () => this.handle(envelope, delivery, mode, work, keyspace)));
  }

  private async handle(
    envelope: MessageEnvelope,
    delivery: ConsumeMessage | undefined,
    mode: EffectMode,
    work: () => Promise<unknown>,
    keyspace: string | undefined,
  ): Promise<void> {
    const started = performance.now();
    const outcome = await this.guards.of(keyspace).run(envelope.id, mode, async () => {
      try {
        return await work();
      } finally {
        this.metrics.handlerDuration.observe((performance.now() - started) / 1000);
      }
    });
    this.metrics.consumed.inc(OUTCOME_LABELS[outcome]);
    noteDeliveryResult(outcome);
    if (this.infoEnabled) {
      const message = outcome === 'duplicate' ? 'duplicate delivery acknowledged without running the handler' : 'message processed';
      this.logger.log(describe(envelope, delivery), message);
    }
  }
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
