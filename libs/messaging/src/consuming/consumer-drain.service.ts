import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type { MessagingSettings } from '../config';
import { IdempotencyGuard } from '../idempotency';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { InFlightDeliveries } from './in-flight-deliveries';

/**
 * Graceful stop at SIGTERM: stop taking deliveries, let the handlers in flight finish (and be
 * acknowledged) within SHUTDOWN_TIMEOUT_MS, then end the guard's waits so golevelup can close.
 * Whatever is still unacknowledged is redelivered by the broker to another consumer.
 */
@Injectable()
export class ConsumerDrain implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ConsumerDrain.name);

  constructor(
    private readonly amqp: AmqpConnection,
    private readonly inFlight: InFlightDeliveries,
    private readonly guard: IdempotencyGuard,
    @Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(Object.values(this.amqp.managedChannels).map((channel) => channel.cancelAll().catch(() => undefined)));
    const inFlight = this.inFlight.size;
    if (inFlight > 0) this.logger.log(`waiting for ${inFlight} in-flight deliveries`);
    const drained = await this.inFlight.drained(this.settings.shutdownTimeoutMs);
    if (!drained)
      this.logger.warn(`${this.inFlight.size} deliveries still in flight after ${this.settings.shutdownTimeoutMs} ms; handing them back`);
    this.guard.stop();
    await this.inFlight.drained(1000);
  }
}
