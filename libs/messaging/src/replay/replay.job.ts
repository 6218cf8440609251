import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { MessagingSettings } from '../config';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { MessagingMetrics } from '../metrics';
import { OutboxStore, type OutboxEntry, type OutboxFailure } from '../outbox';
import { ConfirmedPublisher } from '../publishing/confirmed-publisher';
import { backoffDelayMs } from './backoff';

export interface ReplayReport {
  published: number;
  failed: number;
  parked: number;
}

const JOB_NAME = 'messaging-outbox-replay';

/**
 * Drains the outbox through the confirmed publisher. Each run claims due messages with a lease (so
 * concurrent producers never take the same message while the lease holds, and a killed replayer's
 * messages come back when it ends), publishes a whole batch with its confirms in flight together,
 * and removes only what the broker confirmed. Failures back off per message and are parked past the
 * attempt or age limit. It does not run while the broker is unreachable and never overlaps itself.
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
    const report: ReplayReport = { published: 0, failed: 0, parked: 0 };
    try {
      await this.refreshGauges();
      const { replayBatchSize, leaseMs } = this.settings.outbox;
      while (!this.stopped && this.broker.isReady()) {
        const batch = await this.outbox.claimDue(replayBatchSize, leaseMs);
        if (batch.length === 0) break;
        const result = await this.replayBatch(batch);
        report.published += result.published;
        report.failed += result.failed;
        report.parked += result.parked;
        if (result.failed > 0 || batch.length < replayBatchSize) break;
      }
      if (report.published + report.failed > 0) {
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
    const outcomes = await Promise.allSettled(batch.map((entry) => this.broker.publish(entry, entry.storedAt)));
    const confirmed: string[] = [];
    const failures: OutboxFailure[] = [];
    const now = Date.now();
    outcomes.forEach((outcome, i) => {
      const entry = batch[i];
      if (outcome.status === 'fulfilled') {
        confirmed.push(entry.id);
      } else {
        const delay = backoffDelayMs(entry.attempts + 1, this.settings.outbox.backoffBaseMs, this.settings.outbox.backoffMaxMs);
        failures.push({ id: entry.id, nextAttemptAt: now + delay, error: String((outcome.reason as Error).message) });
      }
    });
    // Removed only after the confirm; if this fails the lease runs out and the message is sent again,
    // a duplicate that the consumer's guard absorbs.
    await this.outbox.remove(confirmed);
    const parked = await this.outbox.recordFailures(failures, this.settings.outbox);
    this.metrics.replays.inc({ result: 'published' }, confirmed.length);
    this.metrics.replays.inc({ result: 'failed' }, failures.length - parked);
    this.metrics.replays.inc({ result: 'parked' }, parked);
    if (parked > 0) this.logger.error({ parked }, 'outbox messages parked after too many failed replays');
    return { published: confirmed.length, failed: failures.length, parked };
  }

  private async refreshGauges(): Promise<void> {
    const counts = await this.outbox.counts();
    this.metrics.outboxPending.set(counts.pending);
    this.metrics.outboxParked.set(counts.parked);
  }
}
