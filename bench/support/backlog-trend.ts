/** One reading of a backlog: how many messages wait, at what time (ms since the run started). */
export interface BacklogSample {
  atMs: number;
  count: number;
}

export interface BacklogTrend {
  /** Least-squares growth over the sampled span, in messages (slope × span): the backlog it builds. */
  growth: number;
  max: number;
  last: number;
  /** True when the growth stays within `allowed`. */
  flat: boolean;
}

/** Least-squares slope of count over time, per ms; 0 with fewer than two samples. */
export function slopePerMs(samples: BacklogSample[]): number {
  if (samples.length < 2) return 0;
  const n = samples.length;
  const meanT = samples.reduce((total, s) => total + s.atMs, 0) / n;
  const meanC = samples.reduce((total, s) => total + s.count, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const s of samples) {
    covariance += (s.atMs - meanT) * (s.count - meanC);
    variance += (s.atMs - meanT) ** 2;
  }
  return variance === 0 ? 0 : covariance / variance;
}

/**
 * Whether a backlog stayed flat: its trend over the whole run (not the noise of single readings) may
 * build at most `allowed` messages. A backlog that grows at any steady rate, however small its
 * readings, ends the run with a queue that the load will only make longer.
 */
export function backlogTrend(samples: BacklogSample[], allowed: number): BacklogTrend {
  const span = samples.length < 2 ? 0 : samples[samples.length - 1].atMs - samples[0].atMs;
  const growth = slopePerMs(samples) * span;
  return {
    growth,
    max: Math.max(0, ...samples.map((s) => s.count)),
    last: samples.at(-1)?.count ?? 0,
    flat: growth <= allowed,
  };
}

/** Reads a backlog every `intervalMs` until stopped; the readings are in `samples`. */
export function sampleBacklog(read: () => Promise<number>, intervalMs: number): { samples: BacklogSample[]; stop: () => Promise<void> } {
  const samples: BacklogSample[] = [];
  const started = Date.now();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const next = Date.now() + intervalMs;
      samples.push({ atMs: Date.now() - started, count: await read() });
      const wait = next - Date.now();
      if (wait > 0 && !stopped) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();
  return {
    samples,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
