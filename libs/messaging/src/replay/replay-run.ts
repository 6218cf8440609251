import { trace } from '@opentelemetry/api';
import type { OutboxEntry, OutboxFailure, OutboxStore } from '../outbox';
import type { ConfirmedPublisher } from '../publishing/confirmed-publisher';
import { PublishFailedError } from '../publishing/publish-errors';
import { traceReplay } from '../spans';
import { backoffDelayMs } from './backoff';

/** How many windows of claimed messages a run keeps waiting to be sent, at most (see ReplayRun). */
const CLAIM_AHEAD = 2;

/** What send() gives traceReplay when no span records and the callback answers (see send). */
const UNTRACED = Promise.resolve();

export interface ReplayReport {
  published: number;
  /** Failures that belong to the message (nack, return), counted towards parking. */
  failed: number;
  /** Failures of the broker's or the link's state (timeout, lost channel, blocked, backpressure), not counted. */
  deferred: number;
  parked: number;
}

export interface ReplayRunSettings {
  /** Most confirms in flight at once (OUTBOX_REPLAY_BATCH_SIZE), and the size of each claim. */
  window: number;
  leaseMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxAttempts: number;
  maxAgeMs: number;
  /** The exchange the messages go to (named on the replay span). */
  exchange: string;
}

/** What a run tells its job as it goes: each write of results, after it landed in Redis. */
export interface ReplayRunHooks {
  recorded(result: ReplayReport): void;
}

/**
 * One run of the replay job: a sliding window of confirms, fed by claims made while earlier confirms
 * are still in flight, and drained by removals made while later publishes are in flight, so the
 * broker does not idle during the Redis scripts.
 *
 * - The run starts with a single message and waits for its answer before it opens the window: a broker
 *   that cannot confirm gets one message per run. The first full claim is made while that answer is
 *   awaited, so the window opens without a Redis round trip (if the run halts, it is released).
 * - At most `window` publishes are in flight. The next claim (of `window` messages) starts as soon as
 *   fewer than `CLAIM_AHEAD` windows of claimed messages wait to be sent: a claim of 500 records runs
 *   for 10 to 25 ms in Redis on a loaded host and waits behind other clients' commands, and with only
 *   one window waiting the broker ran dry while it did (seen in the drain benchmark).
 * - A message is removed only after its confirm. Confirms and failures are written in batches: while
 *   one write runs, the next results gather, and while publishes are in flight confirms are written only
 *   once a quarter of the window has gathered (each write costs the producer a command's fixed cost,
 *   and the outbox is not on the broker's path). A failure, or nothing left in flight, writes at once.
 * - The first failure of the broker's or the link's state (timeout, lost channel, blocked, full
 *   window), or the publisher becoming not ready, halts the run: nothing more is sent, the publishes in
 *   flight are answered, and the claimed messages not sent are released (due again, nothing counted).
 * - A claim that returns fewer messages than asked ends the run once what it returned is answered.
 *
 * A write that fails halts the run too and is rethrown at its end; what it did not remove comes back
 * when its lease runs out and is sent again (a duplicate with the same id, absorbed by the consumer).
 */
export class ReplayRun {
  readonly report: ReplayReport = { published: 0, failed: 0, deferred: 0, parked: 0 };
  /** Claimed and not yet sent, oldest first. */
  private readonly waiting: OutboxEntry[] = [];
  private inFlight = 0;
  private claiming?: Promise<void>;
  private exhausted = false;
  private halted = false;
  private readonly confirmed: string[] = [];
  private readonly failures: OutboxFailure[] = [];
  private writing?: Promise<void>;
  private writeError?: Error;
  /** Woken when a publish is answered or a claim lands. */
  private wake?: () => void;
  /** Confirms gathered before they are written while publishes are in flight (see write). */
  private readonly writeBatch: number;

  constructor(
    private readonly outbox: OutboxStore,
    private readonly broker: Pick<ConfirmedPublisher, 'publish' | 'send' | 'isReady'>,
    private readonly settings: ReplayRunSettings,
    private readonly hooks: ReplayRunHooks,
    /** The job is stopping: send nothing more. */
    private readonly stopping: () => boolean,
  ) {
    this.writeBatch = Math.max(1, Math.floor(settings.window / 4));
  }

  async run(): Promise<ReplayReport> {
    this.waiting.push(...(await this.outbox.claimDue(1, this.settings.leaseMs)));
    if (this.waiting.length === 0) return this.report;
    this.send(this.waiting.shift()!);
    this.claim();
    while (this.inFlight > 0) await this.nextEvent();
    while (!this.halted) {
      if (this.stopping() || !this.broker.isReady()) {
        this.halted = true;
        break;
      }
      if (this.waiting.length < this.settings.window * CLAIM_AHEAD && !this.claiming && !this.exhausted) this.claim();
      if (this.waiting.length > 0 && this.inFlight < this.settings.window) {
        this.send(this.waiting.shift()!);
        continue;
      }
      if (this.waiting.length === 0 && this.exhausted && !this.claiming) break;
      await this.nextEvent();
    }
    while (this.inFlight > 0 || this.claiming) await this.nextEvent();
    if (this.halted && this.waiting.length > 0) await this.outbox.release(this.waiting.splice(0).map((entry) => entry.id));
    this.write();
    while (this.writing) await this.writing;
    if (this.writeError) throw this.writeError;
    return this.report;
  }

  private nextEvent(): Promise<void> {
    return new Promise<void>((resolve) => (this.wake = resolve));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private claim(): void {
    const limit = this.settings.window;
    // `claiming` is cleared in the same turn the entries land, so the loop can claim again at once.
    this.claiming = this.outbox.claimDue(limit, this.settings.leaseMs).then(
      (entries) => {
        for (const entry of entries) this.waiting.push(entry);
        if (entries.length < limit) this.exhausted = true;
        this.claimed();
      },
      (error: Error) => {
        this.fail(error);
        this.claimed();
      },
    );
  }

  private claimed(): void {
    this.claiming = undefined;
    this.notify();
  }

  private send(entry: OutboxEntry): void {
    this.inFlight++;
    // The replay span links to the publish span whose context the outbox record kept (spans/). Only a
    // span that records waits for a promise (its end is the answer); otherwise the callback answers,
    // without a promise and a turn of the microtask queue per message. Either way `answered` runs once.
    let direct = false;
    const traced = traceReplay(entry, this.settings.exchange, () => {
      if (trace.getActiveSpan()?.isRecording()) return this.broker.publish(entry, entry.storedAt);
      direct = true;
      this.broker.send(entry, entry.storedAt, (error) => this.answered(entry, error));
      return UNTRACED;
    });
    if (!direct) {
      traced.then(
        () => this.answered(entry),
        (error: Error) => this.answered(entry, error),
      );
    }
  }

  private answered(entry: OutboxEntry, error?: Error): void {
    this.inFlight--;
    if (error) this.failed(entry, error);
    else this.confirmed.push(entry.id);
    this.write();
    this.notify();
  }

  private failed(entry: OutboxEntry, error: Error): void {
    // Anything else than a PublishFailedError is a fault of this process, not of the message.
    const counts = error instanceof PublishFailedError && error.belongsToMessage;
    if (!counts) this.halted = true;
    const delayMs = backoffDelayMs(entry.attempts + entry.deferrals + 1, this.settings.backoffBaseMs, this.settings.backoffMaxMs);
    this.failures.push({ id: entry.id, delayMs, counts, error: String(error.message) });
  }

  private fail(error: Error): void {
    this.halted = true;
    this.writeError ??= error;
  }

  /**
   * Writes the results gathered so far, unless a write is running (it writes them when it is done), or
   * only a few confirms gathered while more answers are coming.
   */
  private write(): void {
    if (this.writing || this.writeError || (this.confirmed.length === 0 && this.failures.length === 0)) return;
    if (this.failures.length === 0 && this.inFlight > 0 && this.confirmed.length < this.writeBatch) return;
    const confirmed = this.confirmed.splice(0);
    const failures = this.failures.splice(0);
    this.writing = this.record(confirmed, failures)
      .catch((error: Error) => this.fail(error))
      .finally(() => {
        this.writing = undefined;
        this.write();
        this.notify();
      });
  }

  private async record(confirmed: string[], failures: OutboxFailure[]): Promise<void> {
    await this.outbox.remove(confirmed);
    const parked = await this.outbox.recordFailures(failures, this.settings);
    const counted = failures.filter((failure) => failure.counts).length;
    const result = { published: confirmed.length, failed: counted, deferred: failures.length - counted, parked };
    this.report.published += result.published;
    this.report.failed += result.failed;
    this.report.deferred += result.deferred;
    this.report.parked += result.parked;
    this.hooks.recorded(result);
  }
}
