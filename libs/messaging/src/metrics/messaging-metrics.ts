import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type AcceptedStatus = 'published' | 'pending';
export type ConsumeResult = 'processed' | 'duplicate' | 'retried' | 'dead_lettered';
export type ReplayResult = 'published' | 'failed' | 'parked';

/** Every metric of the messaging rooms, on one registry that `GET /metrics` renders. */
@Injectable()
export class MessagingMetrics {
  readonly registry = new Registry();

  readonly accepted = new Counter({
    name: 'messaging_messages_accepted_total',
    help: 'Messages answered 202, by status (published: confirmed by the broker; pending: stored in the outbox).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'messaging_messages_refused_total',
    help: 'Messages refused because neither the broker nor the outbox could take them (503).',
    registers: [this.registry],
  });
  readonly confirmLatency = new Histogram({
    name: 'messaging_publish_confirm_seconds',
    help: 'Time from publish to the broker confirm.',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly outboxPending = new Gauge({
    name: 'messaging_outbox_pending',
    help: 'Messages waiting in the outbox for replay.',
    registers: [this.registry],
  });
  readonly outboxParked = new Gauge({
    name: 'messaging_outbox_parked',
    help: 'Messages parked in the outbox after too many failed replays (kept, never deleted).',
    registers: [this.registry],
  });
  readonly replays = new Counter({
    name: 'messaging_replays_total',
    help: 'Outbox replays, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly consumed = new Counter({
    name: 'messaging_consumed_total',
    help: 'Deliveries handled by the consumer, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly copiesReturned = new Counter({
    name: 'messaging_copies_returned_total',
    help: 'Copies (retry, dead letter, move-back) the broker returned as unroutable; their originals were handed back, not acknowledged.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly consumerRecoveries = new Counter({
    name: 'messaging_consumer_recoveries_total',
    help: 'Subscriptions the consumer restored by itself, by cause (channel_closed: the broker closed the consuming channel; cancelled: the broker cancelled the consumer).',
    labelNames: ['cause'] as const,
    registers: [this.registry],
  });
  readonly handlerDuration = new Histogram({
    name: 'messaging_handler_duration_seconds',
    help: 'Time a message handler took, successful or not.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
