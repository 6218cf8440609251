import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { MessagingSettings } from '../config';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { MessagingMetrics } from '../metrics';
import { OutboxStore, type OutboxEntry, type OutboxFailure } from '../outbox';
import { ConfirmedPublisher } from '../publishing/confirmed-publisher';
import { PublishFailedError } from '../publishing/publish-errors';
import { traceReplay } from '../spans';
import { backoffDelayMs } from './backoff';

export interface ReplayReport {
  published: number;
  /** Failures that belong to the message (nack, return), counted towards parking. */
  failed: number;
  /** Failures of the broker's or the link's state (timeout, lost channel, blocked, backpressure), not counted. */
  deferred: number;
  parked: number;
}

const JOB_NAME = 'messaging-outbox-replay';

/**
 * Drains the outbox through the confirmed publisher. Each run claims due messages with a lease (so
 * concurrent producers never take the same message while the lease holds, and a killed replayer's
 * messages come back when it ends), publishes a whole batch with its confirms in flight together,
 * and removes only what the broker confirmed. Failures back off per message. Only a failure that
 * belongs to the message (nack, return) counts towards parking, at the attempt limit or past the age
 * limit; a timeout, a lost channel, a blocked connection or full in-flight bounds only reschedule.
 *
 * It does not run while the publisher is not ready (broker unreachable, or blocking the connection
 * during a resource alarm) and never overlaps itself. A run starts with a single message, and stops
 * at the first batch with a failure of the broker's state, so a broker that cannot confirm gets one
 * message per run, not a batch per run that it would all receive later and again from the outbox.
 */
@Injectable()
export class ReplayJob implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ReplayJob.name);
  private running = false;
  private stopped = false;

  constructor(
    private readonly scheduler: SchedulerRegistry,
    private readonly outbox: OutboxStore,
    private readonly broker: ConfirmedPublisher,
    private readonly metrics: MessagingMetrics,
    @Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings,
  ) {}

  onApplicationBootstrap(): void {
    const timer = setInterval(() => void this.runOnce(), this.settings.outbox.replayIntervalMs);
    this.scheduler.addInterval(JOB_NAME, timer);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.scheduler.doesExist('interval', JOB_NAME)) this.scheduler.deleteInterval(JOB_NAME);
  }

  /** One run: drains batch after batch until nothing is due. Returns undefined when it did not run. */
  async runOnce(): Promise<ReplayReport | undefined> {
    if (this.running || this.stopped) return undefined;
    this.running = true;
    const report: ReplayReport = { published: 0, failed: 0, deferred: 0, parked: 0 };
    try {
      await this.refreshGauges();
      const { replayBatchSize, leaseMs } = this.settings.outbox;
      let size = 1;
      while (!this.stopped && this.broker.isReady()) {
        const batch = await this.outbox.claimDue(size, leaseMs);
        if (batch.length === 0) break;
        const result = await this.replayBatch(batch);
        report.published += result.published;
        report.failed += result.failed;
        report.deferred += result.deferred;
        report.parked += result.parked;
        if (result.deferred > 0 || batch.length < size) break;
        size = replayBatchSize;
      }
      if (report.published + report.failed + report.deferred > 0) {
        this.logger.log({ ...report }, 'outbox replay run');
        await this.refreshGauges();
      }
    } catch (error) {
      this.logger.warn(`outbox replay run stopped: ${(error as Error).message}`);
    } finally {
      this.running = false;
    }
    return report;
  }

  private async replayBatch(batch: OutboxEntry[]): Promise<ReplayReport> {
    const exchange = this.settings.names.exchange;
    const outcomes = await Promise.allSettled(
      batch.map((entry) => traceReplay(entry, exchange, () => this.broker.publish(entry, entry.storedAt))),
    );
    const confirmed: string[] = [];
    const failures: OutboxFailure[] = [];
    const { backoffBaseMs, backoffMaxMs } = this.settings.outbox;
    outcomes.forEach((outcome, i) => {
      const entry = batch[i];
      if (outcome.status === 'fulfilled') {
        confirmed.push(entry.id);
        return;
      }
      const error = outcome.reason as Error;
      // Anything else than a PublishFailedError is a fault of this process, not of the message.
      const counts = error instanceof PublishFailedError && error.belongsToMessage;
      const delayMs = backoffDelayMs(entry.attempts + entry.deferrals + 1, backoffBaseMs, backoffMaxMs);
      failures.push({ id: entry.id, delayMs, counts, error: String(error.message) });
    });
    // Removed only after the confirm; if this fails the lease runs out and the message is sent again,
    // a duplicate that the consumer's guard absorbs.
    await this.outbox.remove(confirmed);
    const parked = await this.outbox.recordFailures(failures, this.settings.outbox);
    const counted = failures.filter((failure) => failure.counts).length;
    const deferred = failures.length - counted;
    this.metrics.replays.inc({ result: 'published' }, confirmed.length);
    this.metrics.replays.inc({ result: 'failed' }, counted - parked);
    this.metrics.replays.inc({ result: 'deferred' }, deferred);
    this.metrics.replays.inc({ result: 'parked' }, parked);
    if (parked > 0) this.logger.error({ parked }, 'outbox messages parked after too many failed replays');
    return { published: confirmed.length, failed: counted, deferred, parked };
  }

  private async refreshGauges(): Promise<void> {
    const counts = await this.outbox.counts();
    this.metrics.outboxPending.set(counts.pending);
    this.metrics.outboxParked.set(counts.parked);
  }
}
