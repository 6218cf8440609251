import { PublishFailedError } from './publish-errors';

export interface ConfirmWindowLimits {
  confirmTimeoutMs: number;
  maxInFlight: number;
  maxInFlightBytes: number;
}

/** The count and bytes in flight are read from `size` and `byteCount` when they are needed (a scrape), not pushed on every change. */
export interface ConfirmWindowHooks {
  /** A caller was answered with this failure. */
  failed(error: PublishFailedError): void;
  /** The broker confirmed a message whose caller had already been told it timed out. */
  lateConfirm(messageId: string): void;
}

/** How a publish's caller is answered, once: without an error when the broker confirmed it. */
export type PublishAnswer = (error?: PublishFailedError) => void;

/** One publish sent on the channel. */
export interface InFlightPublish {
  readonly messageId: string;
  readonly bytes: number;
  /** performance.now() after which its caller is told it timed out. */
  readonly deadline: number;
  /** Its caller (a callback, not a promise: the replay job sends thousands a second without one each). */
  readonly answer: PublishAnswer;
}

/** How often overdue confirms are looked for, at most. */
const SWEEP_MS = 100;

function sweepInterval(confirmTimeoutMs: number): number {
  return Math.max(10, Math.min(SWEEP_MS, Math.floor(confirmTimeoutMs / 4)));
}

/**
 * The publishes of one confirm channel between their send and the broker's answer, and their callers.
 *
 * A publish stays in flight until the broker answers it or its channel goes, even after its caller was
 * told it timed out: until then its frames may still sit in the socket's buffers (a blocked connection
 * is not read by the broker), so only this count bounds the producer's memory. The bounds are by count
 * and by body bytes; a publish is always admitted into an empty window, whatever its size.
 *
 * A confirm that comes after the timeout is reported (`lateConfirm`): the broker has the message, so
 * its outbox copy may go. Every publish has the same timeout, so the callers' deadlines come in the
 * order they were sent: one timer sweeps them from the oldest instead of a timer per message.
 */
export class ConfirmWindow {
  /** Sent and not answered by the broker. */
  private readonly inFlight = new Set<InFlightPublish>();
  /** Their callers still waiting, in the order sent, which is the order of their deadlines. */
  private readonly awaiting = new Set<InFlightPublish>();
  private bytes = 0;
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly limits: ConfirmWindowLimits,
    private readonly hooks: ConfirmWindowHooks,
  ) {}

  get size(): number {
    return this.inFlight.size;
  }

  get byteCount(): number {
    return this.bytes;
  }

  /** Why a publish of this many body bytes may not be sent now, or undefined when it may. */
  refusal(bytes: number): string | undefined {
    if (this.inFlight.size >= this.limits.maxInFlight) {
      return `${this.inFlight.size} confirms in flight, PUBLISH_MAX_IN_FLIGHT is ${this.limits.maxInFlight}`;
    }
    if (this.bytes > 0 && this.bytes + bytes > this.limits.maxInFlightBytes) {
      return `${this.bytes} bytes in flight, PUBLISH_MAX_IN_FLIGHT_BYTES is ${this.limits.maxInFlightBytes}`;
    }
    return undefined;
  }

  /** Takes a place for a publish about to be sent; `answer` is called once with its caller's answer. */
  add(messageId: string, bytes: number, answer: PublishAnswer): InFlightPublish {
    const publish: InFlightPublish = { messageId, bytes, deadline: performance.now() + this.limits.confirmTimeoutMs, answer };
    this.inFlight.add(publish);
    this.awaiting.add(publish);
    this.bytes += bytes;
    this.sweeper ??= setInterval(() => this.expire(), sweepInterval(this.limits.confirmTimeoutMs)).unref();
    return publish;
  }

  /** The broker's answer (or the client's, when the channel closes). Ignored once the publish was released. */
  settle(publish: InFlightPublish, outcome: 'confirmed' | PublishFailedError): void {
    if (!this.release(publish)) return;
    if (this.awaiting.delete(publish)) this.answer(publish, outcome);
    else if (outcome === 'confirmed') this.hooks.lateConfirm(publish.messageId);
  }

  /** Fails every publish in flight, at once: their channel is gone, no answer will come. */
  releaseAll(kind: 'channel-closed', detail: string): void {
    for (const publish of [...this.inFlight]) this.settle(publish, new PublishFailedError(kind, publish.messageId, detail));
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private release(publish: InFlightPublish): boolean {
    if (!this.inFlight.delete(publish)) return false;
    this.bytes -= publish.bytes;
    return true;
  }

  private answer(publish: InFlightPublish, outcome: 'confirmed' | PublishFailedError): void {
    if (outcome === 'confirmed') {
      publish.answer();
    } else {
      this.hooks.failed(outcome);
      publish.answer(outcome);
    }
  }

  /** Answers the callers whose confirm is overdue: the oldest first, up to the first one still in time. */
  private expire(): void {
    const now = performance.now();
    for (const publish of this.awaiting) {
      if (publish.deadline > now) break;
      this.awaiting.delete(publish);
      this.answer(publish, new PublishFailedError('timeout', publish.messageId, `${this.limits.confirmTimeoutMs} ms`));
    }
    if (this.awaiting.size === 0) this.stop();
  }
}
