import { backoffDelayMs } from './backoff';

const low = () => 0;
const high = () => 1;

describe('backoffDelayMs', () => {
  it('is half the ceiling with random 0 and the full ceiling with random 1', () => {
    expect(backoffDelayMs(1, 500, 60_000, low)).toBe(250);
    expect(backoffDelayMs(1, 500, 60_000, high)).toBe(500);
  });

  it('doubles the ceiling per attempt', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, 100, 1_000_000, high))).toEqual([100, 200, 400, 800, 1600]);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, 100, 1_000_000, low))).toEqual([50, 100, 200, 400, 800]);
  });

  it('caps the ceiling at the maximum', () => {
    expect(backoffDelayMs(10, 500, 60_000, high)).toBe(60_000);
    expect(backoffDelayMs(10, 500, 60_000, low)).toBe(30_000);
    expect(backoffDelayMs(1000, 500, 60_000, high)).toBe(60_000);
  });

  it('treats attempt 0 and below like the first attempt', () => {
    expect(backoffDelayMs(0, 400, 10_000, high)).toBe(400);
    expect(backoffDelayMs(-3, 400, 10_000, low)).toBe(200);
  });

  it('stays within [ceiling/2, ceiling] for any random value', () => {
    for (let attempt = 1; attempt <= 20; attempt++) {
      const ceiling = Math.min(60_000, 500 * 2 ** (attempt - 1));
      for (const r of [0, 0.1, 0.25, 0.5, 0.75, 0.999, 1]) {
        const delay = backoffDelayMs(attempt, 500, 60_000, () => r);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(delay).toBeLessThanOrEqual(ceiling);
        expect(Number.isInteger(delay)).toBe(true);
      }
    }
  });

  it('is monotonic in the random draw', () => {
    const delays = [0, 0.2, 0.4, 0.6, 0.8, 1].map((r) => backoffDelayMs(4, 1000, 60_000, () => r));
    expect(delays).toEqual([...delays].sort((a, b) => a - b));
    expect(delays[0]).toBe(4000);
    expect(delays[5]).toBe(8000);
  });

  it('uses Math.random by default and stays in bounds', () => {
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelayMs(3, 1000, 60_000);
      expect(delay).toBeGreaterThanOrEqual(2000);
      expect(delay).toBeLessThanOrEqual(4000);
    }
  });
});
