import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { MessagingSettings } from '../config';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { MessagingMetrics } from '../metrics';
import { OutboxStore } from '../outbox';
import { ConfirmedPublisher } from '../publishing/confirmed-publisher';
import { ReplayRun, type ReplayReport } from './replay-run';

export type { ReplayReport } from './replay-run';

const JOB_NAME = 'messaging-outbox-replay';

/**
 * Drains the outbox through the confirmed publisher (see ReplayRun for one run). Each run claims due
 * messages with a lease (so concurrent producers never take the same message while the lease holds,
 * and a killed replayer's messages come back when it ends), keeps up to OUTBOX_REPLAY_BATCH_SIZE
 * confirms in flight while it claims the next messages and removes the confirmed ones, and removes
 * only what the broker confirmed. Failures back off per message. Only a failure that belongs to the
 * message (nack, return) counts towards parking, at the attempt limit or past the age limit; a
 * timeout, a lost channel, a blocked connection or full in-flight bounds only reschedule.
 *
 * It does not run while the publisher is not ready (broker unreachable, or blocking the connection
 * during a resource alarm) and never overlaps itself. A run starts with a single message, and stops
 * sending at the first failure of the broker's state, so a broker that cannot confirm gets one
 * message per run, not a window per run that it would all receive later and again from the outbox.
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

  /** One run: drains until nothing is due. Returns undefined when it did not run. */
  async runOnce(): Promise<ReplayReport | undefined> {
    if (this.running || this.stopped) return undefined;
    this.running = true;
    let report: ReplayReport = { published: 0, failed: 0, deferred: 0, parked: 0 };
    try {
      await this.refreshGauges();
      if (!this.broker.isReady()) return report;
      const { replayBatchSize, ...outbox } = this.settings.outbox;
      const run = new ReplayRun(
        this.outbox,
        this.broker,
        { ...outbox, window: replayBatchSize, exchange: this.settings.names.exchange },
        { recorded: (result) => this.count(result) },
        () => this.stopped,
      );
      report = run.report;
      await run.run();
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

  private count({ published, failed, deferred, parked }: ReplayReport): void {
    this.metrics.replays.inc({ result: 'published' }, published);
    this.metrics.replays.inc({ result: 'failed' }, failed - parked);
    this.metrics.replays.inc({ result: 'deferred' }, deferred);
    this.metrics.replays.inc({ result: 'parked' }, parked);
    if (parked > 0) this.logger.error({ parked }, 'outbox messages parked after too many failed replays');
  }

  private async refreshGauges(): Promise<void> {
    const counts = await this.outbox.counts();
    this.metrics.outboxPending.set(counts.pending);
    this.metrics.outboxParked.set(counts.parked);
  }
}
