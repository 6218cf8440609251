import { CallHandler, ExecutionContext, Injectable, Logger, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ConsumeMessage } from 'amqplib';
import { from, lastValueFrom, Observable } from 'rxjs';
import { correlationIdOfDelivery, type MessageEnvelope } from '../envelope';
import { IdempotencyGuard, type EffectMode } from '../idempotency';
import { MessagingMetrics } from '../metrics';
import { attemptOf } from './failure-router';
import { IDEMPOTENT_MODE } from './idempotent.decorator';
import { InFlightDeliveries } from './in-flight-deliveries';

/**
 * Runs a RabbitMQ handler inside the idempotency guard. Returning normally lets golevelup acknowledge
 * the delivery (after the work and its done mark); throwing hands the delivery to the failure router.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private readonly logger = new Logger('MessageConsumer');

  constructor(
    private readonly guard: IdempotencyGuard,
    private readonly reflector: Reflector,
    private readonly inFlight: InFlightDeliveries,
    private readonly metrics: MessagingMetrics,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType<string>() !== 'rmq') return next.handle();
    const [envelope, delivery] = context.getArgs<[MessageEnvelope, ConsumeMessage]>();
    const mode = this.reflector.get<EffectMode>(IDEMPOTENT_MODE, context.getHandler()) ?? 'exclusive';
    return from(this.inFlight.track(() => this.handle(envelope, delivery, mode, next)));
  }

  private async handle(envelope: MessageEnvelope, delivery: ConsumeMessage, mode: EffectMode, next: CallHandler): Promise<void> {
    const correlationId = correlationIdOfDelivery(delivery.properties);
    const attempt = attemptOf(delivery);
    const started = performance.now();
    const outcome = await this.guard.run(envelope.id, mode, async () => {
      try {
        return await lastValueFrom<unknown, undefined>(next.handle(), { defaultValue: undefined });
      } finally {
        this.metrics.handlerDuration.observe((performance.now() - started) / 1000);
      }
    });
    this.metrics.consumed.inc({ result: outcome });
    const log = { messageId: envelope.id, correlationId, type: envelope.type, attempt, redelivered: delivery.fields.redelivered };
    // One info line per delivery, so an operator can follow a correlation id from the producer's line
    // to the consumer's (LOG_LEVEL=warn drops both where the volume matters more than the trail).
    this.logger.log(log, outcome === 'duplicate' ? 'duplicate delivery acknowledged without running the handler' : 'message processed');
  }
}
