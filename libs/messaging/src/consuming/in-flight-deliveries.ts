import { Injectable } from '@nestjs/common';

/**
 * Counts deliveries being handled, and acks asked for but not sent yet (AckCoalescer), so shutdown
 * can wait for both (within a bound).
 */
@Injectable()
export class InFlightDeliveries {
  private count = 0;
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.count;
  }

  async track<T>(work: () => Promise<T>): Promise<T> {
    this.count++;
    try {
      return await work();
    } finally {
      this.release(1);
    }
  }

  hold(count: number): void {
    this.count += count;
  }

  release(count: number): void {
    this.count -= count;
    if (this.count === 0 && this.waiters.length > 0) this.waiters.splice(0).forEach((wake) => wake());
  }

  /** Resolves true when none are left, false when the bound ran out first. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
