import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type { MessagingSettings } from '../config';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { IdempotencyGuards } from './idempotency-guards';
import { InFlightDeliveries } from './in-flight-deliveries';
import { SubscriptionSupervisor } from './subscription-supervisor';

/**
 * How long the acknowledgements of the last deliveries are given to take effect before golevelup
 * closes the channel. RabbitMQ's quorum-queue client in the channel stashes settlements beyond its
 * soft limit of commands in flight (32) and sends them as earlier ones are applied; a channel closed
 * meanwhile drops them, and those deliveries come back (as duplicates, absorbed by the guard, but
 * processed messages should not be delivered again). Measured: 16 of 50 acks lost without a pause.
 */
const ACK_SETTLE_GRACE_MS = 250;

/**
 * Graceful stop at SIGTERM: cancel every consumer at once (by its tag, so the broker stops sending
 * and lists none of ours), hand back unprocessed whatever delivery still arrives or was prefetched
 * and not started, let the handlers in flight finish (and be acknowledged) within
 * SHUTDOWN_TIMEOUT_MS, then end every guard's waits so golevelup can close. Whatever is still
 * unacknowledged is redelivered by the broker to another consumer.
 */
@Injectable()
export class ConsumerDrain implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ConsumerDrain.name);

  constructor(
    private readonly subscriptions: SubscriptionSupervisor,
    private readonly inFlight: InFlightDeliveries,
    private readonly guards: IdempotencyGuards,
    @Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    await this.subscriptions.stopConsuming();
    const inFlight = this.inFlight.size;
    if (inFlight > 0) this.logger.log(`waiting for ${inFlight} in-flight deliveries`);
    const drained = await this.inFlight.drained(this.settings.shutdownTimeoutMs);
    if (!drained)
      this.logger.warn(`${this.inFlight.size} deliveries still in flight after ${this.settings.shutdownTimeoutMs} ms; handing them back`);
    this.guards.stop();
    await this.inFlight.drained(1000);
    if (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, ACK_SETTLE_GRACE_MS));
  }
}
