import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { redisFailureKind, type RedisFailureKind } from '../redis/redis-failure-kind';
import { GuardHoldExpiredError, GuardLockLostError, GuardStoppedError } from './guard-stopped-error';
import { IdempotencyStore } from './idempotency-store';
import { LockRenewal, type LockLoss } from './lock-renewal';
import { isRedisEffect, type RedisCommand } from './redis-effect';
import { effectReplyOf, RedisEffectError } from './redis-effect-error';

/**
 * - `atomic`: the handler's whole effect is the RedisEffect it returns, committed with the done mark
 *   in one script (one round trip). Concurrent deliveries may both run the handler body, but only one
 *   effect lands, and the loser is acknowledged only after the winner's commit.
 * - `exclusive`: for handlers with an effect outside Redis. A per-id lock keeps two deliveries from
 *   running the handler at once; the done mark is written after it succeeds. A crash between the
 *   outside effect and the mark runs the handler again, and so does a lock that expires while Redis
 *   cannot renew it (unreachable or refusing writes for longer than the lock TTL): pass the message
 *   id downstream as an idempotency key.
 */
export type EffectMode = 'atomic' | 'exclusive';
export type GuardOutcome = 'processed' | 'duplicate';

export interface GuardTiming {
  lockTtlMs: number;
  /** Ceiling of the wait between two tries while Redis does not answer or another delivery holds the id. */
  maxWaitMs: number;
  /** The longest a run holds its delivery (waiting for Redis or for another delivery's lock); see holdBoundFor. */
  holdBoundMs: number;
}

/** What the guard reports for the metrics; every method is called synchronously and must not throw. */
export interface GuardEvents {
  redisFailure(kind: RedisFailureKind): void;
  lockLost(stage: 'renewal' | 'complete'): void;
  handedBack(reason: 'hold_bound' | 'lock_lost' | 'stopping'): void;
}

const NO_EVENTS: GuardEvents = { redisFailure: () => undefined, lockLost: () => undefined, handedBack: () => undefined };

/**
 * Share of the broker's consumer_timeout a delivery may be held. The rest covers one Redis command
 * that outlasts the bound (at most REDIS_COMMAND_TIMEOUT_MS) and the hand-back itself. RabbitMQ checks
 * the timeout only periodically (about once a minute), so the channel closes between the timeout and
 * about a minute later, never before it.
 */
export const HOLD_SHARE_OF_CONSUMER_TIMEOUT = 0.8;

export function holdBoundFor(brokerConsumerTimeoutMs: number): number {
  return Math.floor(brokerConsumerTimeoutMs * HOLD_SHARE_OF_CONSUMER_TIMEOUT);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs a message's work at most once per id. The done mark is written only after the work succeeded,
 * so a failed attempt is retried rather than dropped. Every failure of the guard's own Redis calls
 * (no connection, a timeout, a refusal such as OOM, MISCONF, NOREPLICAS, READONLY) is an
 * infrastructure failure: the guard neither runs the work nor lets the delivery be acknowledged, and
 * waits with backoff until Redis answers, or until the hold bound, when the delivery goes back to the
 * broker (GuardHoldExpiredError) without counting an attempt. Only an error of the handler's own
 * effect commands (RedisEffectError) counts as a failure of the handler.
 */
export class IdempotencyGuard {
  private readonly logger = new Logger(IdempotencyGuard.name);
  private stopped = false;
  /** Redis failures and hand-backs since Redis last answered the guard; logged when they start and when they end. */
  private failuresSinceAnswer = 0;
  private handedBackSinceAnswer = 0;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly timing: GuardTiming,
    private readonly events: GuardEvents = NO_EVENTS,
  ) {}

  /** Ends every wait with GuardStoppedError (called at shutdown). */
  stop(): void {
    this.stopped = true;
  }

  run(id: string, mode: EffectMode, work: () => unknown): Promise<GuardOutcome> {
    const started = performance.now();
    return mode === 'atomic' ? this.runAtomic(id, work, started) : this.runExclusive(id, work, started + this.timing.holdBoundMs);
  }

  private async runAtomic(id: string, work: () => unknown, started: number): Promise<GuardOutcome> {
    return this.commitEffect(id, await work(), started);
  }

  /**
   * The second half of an atomic run, for a caller that ran the handler itself (IdempotentHandling,
   * which times it): commits what it returned with the done mark. `started` is when the run began
   * (performance.now()), from which the hold bound counts. The first try is made here, without the
   * retry loop's frames; a failure goes on in untilRedisAnswers as any other.
   */
  async commitEffect(id: string, result: unknown, started: number): Promise<GuardOutcome> {
    const commands = effectCommands(result);
    let applied: boolean;
    try {
      applied = await this.store.commit(id, commands);
      this.redisAnswered();
    } catch (error) {
      const deadline = started + this.timing.holdBoundMs;
      this.failedTry(id, error);
      await this.pause(id, 0, deadline);
      // The script checks the mark itself, so re-sending it after a lost reply cannot apply it twice.
      applied = await this.untilRedisAnswers(id, deadline, () => this.store.commit(id, commands), 1);
    }
    return applied ? 'processed' : 'duplicate';
  }

  private async runExclusive(id: string, work: () => unknown, deadline: number): Promise<GuardOutcome> {
    const token = randomUUID();
    const { lockTtlMs } = this.timing;
    for (let round = 0; ; round++) {
      const claim = await this.untilRedisAnswers(id, deadline, () => this.store.claim(id, token, lockTtlMs));
      if (claim === 'done') return 'duplicate';
      if (claim === 'acquired') break;
      // Another delivery of this id is being handled: wait for its outcome rather than acknowledging.
      await this.pause(id, round, deadline);
    }
    // Renewed until the mark is written, including while writing it is retried.
    const renewal = new LockRenewal(this.store, id, token, lockTtlMs, (loss) => this.lockLost(id, 'renewal', loss));
    let completed = false;
    try {
      const commands = effectCommands(await work());
      const result = await this.untilRedisAnswers(id, deadline, () => this.store.complete(id, token, commands));
      completed = true;
      if (result === 'taken') {
        this.lockLost(id, 'complete', 'taken');
        this.events.handedBack('lock_lost');
        throw new GuardLockLostError(id);
      }
      return result === 'applied' ? 'processed' : 'duplicate';
    } finally {
      renewal.stop();
      // Failed work, or a give-up while completing: free the id for the next delivery (best effort;
      // unrenewed, the lock expires by itself).
      if (!completed) await this.store.release(id, token).catch(() => undefined);
    }
  }

  private lockLost(id: string, stage: 'renewal' | 'complete', loss: LockLoss): void {
    this.events.lockLost(stage);
    const what = loss === 'taken' ? 'another delivery holds it' : 'it had expired and was taken back';
    this.logger.warn({ messageId: id, stage }, `idempotency lock lost while the handler ran (${what}); Redis could not renew it in time`);
  }

  private async untilRedisAnswers<T>(id: string, deadline: number, operation: () => Promise<T>, firstRound = 0): Promise<T> {
    for (let round = firstRound; ; round++) {
      try {
        const result = await operation();
        this.redisAnswered();
        return result;
      } catch (error) {
        this.failedTry(id, error);
        await this.pause(id, round, deadline);
      }
    }
  }

  /** A failed try: an effect's own error ends the run as the handler's failure; any other is Redis's, and the caller waits. */
  private failedTry(id: string, error: unknown): void {
    const effectReply = effectReplyOf(error);
    if (effectReply !== undefined) {
      this.redisAnswered();
      throw new RedisEffectError(id, effectReply);
    }
    this.redisFailed(id, error);
  }

  private redisFailed(id: string, error: unknown): void {
    const kind = redisFailureKind(error);
    this.events.redisFailure(kind);
    if (this.failuresSinceAnswer++ === 0) {
      this.logger.warn({ messageId: id, kind }, `Redis does not take the guard's writes, holding deliveries: ${(error as Error).message}`);
    }
  }

  private redisAnswered(): void {
    if (this.failuresSinceAnswer === 0) {
      this.handedBackSinceAnswer = 0; // a hand-back from a lock wait, with Redis answering
      return;
    }
    const handedBack = this.handedBackSinceAnswer;
    this.logger.log(
      `Redis answers the guard again after ${this.failuresSinceAnswer} failed call(s); ${handedBack} delivery(ies) handed back meanwhile`,
    );
    this.failuresSinceAnswer = 0;
    this.handedBackSinceAnswer = 0;
  }

  /** Backoff between two tries; ends the run's wait at shutdown or at its hold bound. */
  private async pause(id: string, round: number, deadline: number): Promise<void> {
    this.giveUpIfDue(id, deadline);
    const left = deadline - performance.now();
    await sleep(Math.max(1, Math.min(this.timing.maxWaitMs, 25 * 2 ** Math.min(round, 10), left)));
    this.giveUpIfDue(id, deadline);
  }

  private giveUpIfDue(id: string, deadline: number): void {
    if (this.stopped) {
      this.events.handedBack('stopping');
      throw new GuardStoppedError(id);
    }
    if (performance.now() >= deadline) {
      this.events.handedBack('hold_bound');
      const heldMs = Math.round(this.timing.holdBoundMs);
      if (this.handedBackSinceAnswer++ === 0) {
        this.logger.warn(
          { messageId: id, heldMs },
          'delivery held as long as the broker allows; handing it back (and others, until Redis answers)',
        );
      }
      throw new GuardHoldExpiredError(id, heldMs);
    }
  }
}

function effectCommands(result: unknown): RedisCommand[] {
  return isRedisEffect(result) ? result.commands : [];
}
