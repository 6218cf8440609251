import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type AcceptedStatus = 'published' | 'pending';
export type ConsumeResult = 'processed' | 'duplicate' | 'retried' | 'dead_lettered';
/** failed: a nack or return, counted towards parking; deferred: an infrastructure failure, rescheduled without counting. */
export type ReplayResult = 'published' | 'failed' | 'deferred' | 'parked';

/** Messages ready in one queue of the topology, as the broker answered a passive declare. */
export interface QueueDepth {
  queue: string;
  role: string;
  messages: number;
}

/** How long a scrape waits for the broker to answer for the queues' depth. */
export const QUEUE_READ_TIMEOUT_MS = 2000;

const PROCESSED = { result: 'processed' } as const;
const DUPLICATE = { result: 'duplicate' } as const;
const PUBLISHED = { status: 'published' } as const;

/** Every metric of the messaging rooms, on one registry that `GET /metrics` renders. */
@Injectable()
export class MessagingMetrics {
  readonly registry = new Registry();

  /** Messages confirmed (counted by countPublished) and not yet added to `accepted` (done at each read of it). */
  private publishedSinceRead = 0;
  readonly accepted = new Counter({
    name: 'messaging_messages_accepted_total',
    help: 'Messages answered 202, by status (published: confirmed by the broker; pending: stored in the outbox).',
    labelNames: ['status'] as const,
    registers: [this.registry],
    collect: () => this.addPublishedSinceRead(),
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
  readonly publishFailures = new Counter({
    name: 'messaging_publish_failures_total',
    help: 'Sends to the broker that did not end in a confirm, by kind (not-connected, blocked, backpressure, timeout, channel-closed, nacked, returned, unpublishable).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly publishInFlight = new Gauge({
    name: 'messaging_publish_in_flight',
    help: 'Publishes sent on the publisher channel and not yet confirmed by the broker (timed-out ones included), bounded by PUBLISH_MAX_IN_FLIGHT.',
    registers: [this.registry],
  });
  readonly publishInFlightBytes = new Gauge({
    name: 'messaging_publish_in_flight_bytes',
    help: 'Body bytes of those publishes, bounded by PUBLISH_MAX_IN_FLIGHT_BYTES.',
    registers: [this.registry],
  });
  readonly lateConfirms = new Counter({
    name: 'messaging_publish_late_confirms_total',
    help: 'Confirms that came after their publish had timed out; the outbox copy is then removed.',
    registers: [this.registry],
  });
  readonly brokerBlocked = new Gauge({
    name: 'messaging_broker_blocked',
    help: '1 while the broker blocks the publishing connection (a memory or disk alarm), else 0.',
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
    help: 'Outbox replays, by result (published; failed: nack or return, counted towards parking; deferred: broker state, not counted; parked).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  /** Handled deliveries counted by countConsumed and not yet added to `consumed` (done at each read of it). */
  private readonly consumedSinceRead = { processed: 0, duplicate: 0 };
  readonly consumed = new Counter({
    name: 'messaging_consumed_total',
    help: 'Deliveries handled by the consumer, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
    collect: () => this.addConsumedSinceRead(),
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
  readonly guardRedisFailures = new Counter({
    name: 'messaging_guard_redis_failures_total',
    help: 'Failed Redis calls of the idempotency guard (the delivery is held, never counted as an attempt), by kind: OOM, MISCONF, NOREPLICAS, READONLY, timeout, connection, ...',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly guardLockLost = new Counter({
    name: 'messaging_guard_lock_lost_total',
    help: 'Exclusive runs whose lock expired while the handler ran (Redis could not renew it), by where it was noticed: renewal or complete.',
    labelNames: ['stage'] as const,
    registers: [this.registry],
  });
  readonly guardCommitBatchSize = new Histogram({
    name: 'messaging_guard_commit_batch_size',
    help: 'Commits the guard sent to Redis in one script, per batch (at most IDEMPOTENCY_COMMIT_BATCH_SIZE): near 1 under a backlog means every delivery pays a round trip of its own.',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
    registers: [this.registry],
  });
  readonly guardHandedBack = new Counter({
    name: 'messaging_guard_handed_back_total',
    help: 'Deliveries the guard handed back to the broker without counting an attempt, by reason: hold_bound, lock_lost, stopping.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  /**
   * Read at each scrape from the consuming side (which registers the reader), so that an alert can
   * tell a queue nobody consumes from; a process that does not consume reports no series.
   */
  readonly queueConsumers = new Gauge({
    name: 'messaging_queue_consumers',
    help: 'Active consumers of this process on each queue it subscribes to (0 while the broker has cancelled it, its channel is closed, or the process is stopping).',
    labelNames: ['queue'] as const,
    registers: [this.registry],
    collect: () => this.collectQueueConsumers(),
  });
  private queueConsumerReader?: () => Iterable<[queue: string, active: number]>;
  /**
   * Read from the broker at each scrape by the consuming side (which registers the reader): the
   * dead-letter queues' depth is what tells letters the broker dead-letters by itself (a delivery
   * limit reached, a queue's own policy), which no counter of this process sees. A queue that cannot
   * be read (broker down, queue missing, no answer within QUEUE_READ_TIMEOUT_MS) reports no series.
   */
  readonly queueMessages = new Gauge({
    name: 'messaging_queue_messages',
    help: 'Messages ready in each queue of the topology (work, dead letters, retry delay), read from the broker at each scrape.',
    labelNames: ['queue', 'role'] as const,
    registers: [this.registry],
    collect: () => this.collectQueueMessages(),
  });
  private queueMessagesReader?: () => Promise<Iterable<QueueDepth>>;
  readonly handlerDuration = new Histogram({
    name: 'messaging_handler_duration_seconds',
    help: 'Time a message handler took, successful or not.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * One delivery the guard let through (processed) or absorbed (duplicate). A plain increment, added
   * to messaging_consumed_total whenever the counter is read (a scrape, `get()`): prom-client's own
   * `inc` hashes the label set on every call, once per delivery on the hottest path.
   */
  countConsumed(result: 'processed' | 'duplicate'): void {
    this.consumedSinceRead[result]++;
  }

  /** One message the broker confirmed (accepted as published): a plain increment, as countConsumed. */
  countPublished(): void {
    this.publishedSinceRead++;
  }

  private addPublishedSinceRead(): void {
    if (this.publishedSinceRead > 0) this.accepted.inc(PUBLISHED, this.publishedSinceRead);
    this.publishedSinceRead = 0;
  }

  private addConsumedSinceRead(): void {
    const counts = this.consumedSinceRead;
    if (counts.processed > 0) this.consumed.inc(PROCESSED, counts.processed);
    if (counts.duplicate > 0) this.consumed.inc(DUPLICATE, counts.duplicate);
    counts.processed = 0;
    counts.duplicate = 0;
  }

  /** The consuming side says, at each scrape, how many active consumers each of its queues has. */
  readQueueConsumersFrom(reader: () => Iterable<[queue: string, active: number]>): void {
    this.queueConsumerReader = reader;
  }

  /** The consuming side says, at each scrape, how many messages its queues hold (see queueMessages). */
  readQueueMessagesFrom(reader: () => Promise<Iterable<QueueDepth>>): void {
    this.queueMessagesReader = reader;
  }

  private async collectQueueMessages(): Promise<void> {
    const reader = this.queueMessagesReader;
    if (!reader) return;
    // A scrape must answer even when the broker does not: a stalled link would hold checkQueue forever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((done) => {
      timer = setTimeout(() => done(undefined), QUEUE_READ_TIMEOUT_MS);
    });
    const depths = await Promise.race([reader().catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
    this.queueMessages.reset();
    for (const { queue, role, messages } of depths ?? []) this.queueMessages.set({ queue, role }, messages);
  }

  private collectQueueConsumers(): void {
    if (!this.queueConsumerReader) return;
    this.queueConsumers.reset();
    for (const [queue, active] of this.queueConsumerReader()) this.queueConsumers.set({ queue }, active);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
