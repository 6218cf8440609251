/** The value at percentile p (0..100) of the values, nearest rank; NaN when there are none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

export function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

export function mean(values: number[]): number {
  return values.length === 0 ? Number.NaN : sum(values) / values.length;
}

/** 1234.5 -> "1,235"; small numbers keep one decimal. */
export function formatNumber(value: number, decimals = value < 100 ? 1 : 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function formatMs(value: number): string {
  return Number.isFinite(value) ? `${formatNumber(value, value < 10 ? 1 : 0)} ms` : 'n/a';
}

export function formatMiB(bytes: number | undefined): string {
  return bytes === undefined || !Number.isFinite(bytes) ? 'n/a' : `${formatNumber(bytes / 1024 / 1024, 0)} MiB`;
}

/** "0.93x (target ≥ 0.9x: met)"; a third decimal when two would round a miss up to the target. */
export function formatRatio(ratio: number, target?: number): string {
  const decimals = target !== undefined && ratio < target && Number(ratio.toFixed(2)) >= target ? 3 : 2;
  const text = Number.isFinite(ratio) ? `${ratio.toFixed(decimals)}x` : 'n/a';
  if (target === undefined) return text;
  return `${text} (target ≥ ${target}x: ${ratio >= target ? '**met**' : '**missed**'})`;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How far one round may fall on the wrong side of a target while the mean of the rounds still meets it. */
export const ROUND_SLACK = 0.05;

/**
 * A ratio against its target, as the issue counts it: the mean of the rounds on the right side of the
 * target, and no round more than ROUND_SLACK on the wrong side. "0.93x (target ≥ 0.9x, each round ≥
 * 0.85x: **met**)"; `atMost` for a ceiling (CPU, memory).
 */
export function formatTarget(ratio: number, rounds: number[], target: number, atMost = false): string {
  const meets = (value: number, bound: number) => (atMost ? value <= bound : value >= bound);
  const floor = atMost ? target + ROUND_SLACK : target - ROUND_SLACK;
  const met = meets(ratio, target) && rounds.every((round) => meets(round, floor));
  const sign = atMost ? '≤' : '≥';
  const roundsRule = rounds.length > 1 ? `, each round ${sign} ${floor.toFixed(2)}x` : '';
  const text = Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : 'n/a';
  return `${text} (target ${sign} ${target}x${roundsRule}: ${met ? '**met**' : '**missed**'})`;
}
