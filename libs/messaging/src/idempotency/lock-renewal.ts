import type { IdempotencyStore, RenewResult } from './idempotency-store';

/** What became of a lock between two renewals, when it was not simply renewed. */
export type LockLoss = Exclude<RenewResult, 'renewed' | 'done'>;

/**
 * Keeps an exclusive run's lock alive from its claim until the done mark is written (or the lock is
 * released): a renewal every third of the TTL, and sooner after a renewal that failed, so a short
 * Redis hiccup does not cost the lock. One renewal at a time (a chain of timers, not an interval), so
 * a slow Redis does not pile them up. A renewal that finds the lock expired or taken is reported once;
 * an expired lock that no one took is taken back by the renewal itself.
 */
export class LockRenewal {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private reported = false;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly id: string,
    private readonly token: string,
    private readonly ttlMs: number,
    private readonly onLoss: (loss: LockLoss) => void,
  ) {
    this.schedule(this.intervalMs);
  }

  /** No renewal is sent after this; one already sent is ignored. Call before releasing the lock. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private get intervalMs(): number {
    return Math.max(1, Math.floor(this.ttlMs / 3));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.renew(), delayMs);
  }

  private async renew(): Promise<void> {
    let next = this.intervalMs;
    try {
      const result = await this.store.renew(this.id, this.token, this.ttlMs);
      if (this.stopped) return;
      if ((result === 'reacquired' || result === 'taken') && !this.reported) {
        this.reported = true;
        this.onLoss(result);
      }
    } catch {
      // Redis did not renew (down, refusing writes): try again soon, while the lock still lives.
      next = Math.max(1, Math.min(Math.floor(this.ttlMs / 10), 500));
    }
    this.schedule(next);
  }
}
