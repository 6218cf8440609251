import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { ReplyError } from 'ioredis';
import { IdempotencyStore } from './idempotency-store';
import { isRedisEffect, type RedisCommand } from './redis-effect';

/**
 * - `atomic`: the handler's whole effect is the RedisEffect it returns, committed with the done mark
 *   in one script (one round trip). Concurrent deliveries may both run the handler body, but only one
 *   effect lands, and the loser is acknowledged only after the winner's commit.
 * - `exclusive`: for handlers with an effect outside Redis. A per-id lock keeps two deliveries from
 *   running the handler at once; the done mark is written after it succeeds. A crash between the
 *   outside effect and the mark runs the handler again: pass the message id downstream as an
 *   idempotency key.
 */
export type EffectMode = 'atomic' | 'exclusive';
export type GuardOutcome = 'processed' | 'duplicate';

/** The guard stopped waiting for Redis because the process is shutting down; the delivery must go back. */
export class GuardStoppedError extends Error {
  constructor(readonly messageId: string) {
    super(`stopped waiting for Redis for message ${messageId}: shutting down`);
    this.name = 'GuardStoppedError';
  }
}

export interface GuardTiming {
  lockTtlMs: number;
  /** Ceiling of the wait between two tries while Redis does not answer or another delivery holds the id. */
  maxWaitMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Replies Redis gives while it loads its data, fails over or is busy: they heal by waiting. */
const TRANSIENT_REPLIES = /^(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/;

/** A server reply error (a bad script, a wrong type) will not heal by waiting; connection errors and the replies above will. */
function isTransient(error: unknown): boolean {
  return !(error instanceof ReplyError) || TRANSIENT_REPLIES.test((error as Error).message);
}

/**
 * Runs a message's work at most once per id. The done mark is written only after the work succeeded,
 * so a failed attempt is retried rather than dropped. While Redis does not answer it neither runs the
 * work nor lets the delivery be acknowledged: it waits, with backoff, until Redis is back.
 */
export class IdempotencyGuard {
  private readonly logger = new Logger(IdempotencyGuard.name);
  private stopped = false;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly timing: GuardTiming,
  ) {}

  /** Ends every wait with GuardStoppedError (called at shutdown). */
  stop(): void {
    this.stopped = true;
  }

  run(id: string, mode: EffectMode, work: () => Promise<unknown>): Promise<GuardOutcome> {
    return mode === 'atomic' ? this.runAtomic(id, work) : this.runExclusive(id, work);
  }

  private async runAtomic(id: string, work: () => Promise<unknown>): Promise<GuardOutcome> {
    const commands = effectCommands(await work());
    // The script checks the mark itself, so re-sending it after a lost reply cannot apply it twice.
    const applied = await this.untilRedisAnswers(id, () => this.store.commit(id, commands));
    return applied ? 'processed' : 'duplicate';
  }

  private async runExclusive(id: string, work: () => Promise<unknown>): Promise<GuardOutcome> {
    const token = randomUUID();
    const { lockTtlMs } = this.timing;
    for (let round = 0; ; round++) {
      const claim = await this.untilRedisAnswers(id, () => this.store.claim(id, token, lockTtlMs));
      if (claim === 'done') return 'duplicate';
      if (claim === 'acquired') break;
      // Another delivery of this id is being handled: wait for its outcome rather than acknowledging.
      await this.pause(id, round);
    }
    const renewal = setInterval(() => void this.store.renew(id, token, lockTtlMs).catch(() => undefined), lockTtlMs / 3);
    let commands: RedisCommand[];
    try {
      commands = effectCommands(await work());
    } catch (error) {
      await this.store.release(id, token).catch(() => undefined);
      throw error;
    } finally {
      clearInterval(renewal);
    }
    const applied = await this.untilRedisAnswers(id, () => this.store.complete(id, token, commands));
    return applied ? 'processed' : 'duplicate';
  }

  private async untilRedisAnswers<T>(id: string, operation: () => Promise<T>): Promise<T> {
    for (let round = 0; ; round++) {
      try {
        return await operation();
      } catch (error) {
        if (!isTransient(error)) throw error;
        if (round === 0) this.logger.warn({ messageId: id }, `Redis does not answer, holding the delivery: ${(error as Error).message}`);
        await this.pause(id, round);
      }
    }
  }

  private async pause(id: string, round: number): Promise<void> {
    if (this.stopped) throw new GuardStoppedError(id);
    await sleep(Math.min(this.timing.maxWaitMs, 25 * 2 ** Math.min(round, 10)));
    if (this.stopped) throw new GuardStoppedError(id);
  }
}

function effectCommands(result: unknown): RedisCommand[] {
  return isRedisEffect(result) ? result.commands : [];
}
