/**
 * The fault schedule of a chaos run: a pure function of (seed, duration, instances), so a failed run is
 * replayed by running again with the seed it printed.
 */

export type FaultKind =
  | 'cut-broker'
  | 'refuse-broker'
  | 'stall-broker'
  | 'alarm-broker'
  | 'cut-redis'
  | 'refuse-redis'
  | 'refuse-redis-writes'
  | 'kill-producer'
  | 'kill-consumer';

/** Faults of a whole server (the suite's own), not of one instance's link: they always hit everybody. */
const SERVER_WIDE: readonly FaultKind[] = ['alarm-broker', 'refuse-redis-writes'];

/** `all`, or one app instance such as `producer-1`. */
export type FaultTarget = string;

export interface FaultEvent {
  /** Milliseconds after the load starts. */
  atMs: number;
  kind: FaultKind;
  target: FaultTarget;
  /** How long a refusal or stall lasts, or how long a killed app stays down before its restart. */
  durationMs: number;
}

export interface ScheduleOptions {
  seed: number;
  /** Length of the load; faults start within its first 85 % so the run ends on a healed system. */
  durationMs: number;
  producers: number;
  consumers: number;
}

/** Each kind happens at least this often, however short the run. */
const MIN_PER_KIND = 2;
/** One fault every this many milliseconds of load, on average, beyond the minimum. */
const MEAN_GAP_MS = 3_000;
const FAULT_WINDOW = { start: 0.05, end: 0.85 };

const DURATION_MS: Record<FaultKind, [number, number]> = {
  'cut-broker': [0, 0],
  'cut-redis': [0, 0],
  'refuse-broker': [1_000, 5_000],
  'refuse-redis': [1_000, 5_000],
  // Below the AMQP heartbeat (a longer silence is a cut, which cut-broker covers), above the confirm timeout.
  'stall-broker': [1_500, 3_500],
  // The broker's memory alarm: it blocks every publishing connection (flow control) until cleared.
  'alarm-broker': [2_000, 6_000],
  // Redis at maxmemory under noeviction: every write is refused with OOM, reads still answer.
  'refuse-redis-writes': [1_000, 5_000],
  'kill-producer': [200, 3_000],
  'kill-consumer': [200, 3_000],
};

export const FAULT_KINDS = Object.keys(DURATION_MS) as FaultKind[];

/** mulberry32: a small, fast, well-mixed 32-bit PRNG; the same seed gives the same sequence on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function faultSchedule(options: ScheduleOptions): FaultEvent[] {
  const random = seededRandom(options.seed);
  const between = (low: number, high: number) => Math.round(low + random() * (high - low));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];

  const windowStart = options.durationMs * FAULT_WINDOW.start;
  const windowEnd = options.durationMs * FAULT_WINDOW.end;
  const extra = Math.max(0, Math.round((windowEnd - windowStart) / MEAN_GAP_MS) - FAULT_KINDS.length * MIN_PER_KIND);
  const kinds = [...FAULT_KINDS.flatMap((kind) => Array<FaultKind>(MIN_PER_KIND).fill(kind))];
  for (let i = 0; i < extra; i++) kinds.push(pick(FAULT_KINDS));

  const instances = (kind: 'producer' | 'consumer', count: number) => Array.from({ length: count }, (_, i) => `${kind}-${i + 1}`);
  const producers = instances('producer', options.producers);
  const consumers = instances('consumer', options.consumers);
  // A network fault hits everybody half the time: that is the outage that sends messages to the outbox.
  const networkTargets = ['all', ...producers, ...consumers];

  const targetOf = (kind: FaultKind, occurrence: number): FaultTarget => {
    if (kind === 'kill-producer') return pick(producers);
    if (kind === 'kill-consumer') return pick(consumers);
    if (SERVER_WIDE.includes(kind)) return 'all';
    // The first of each network kind is a full outage, so every run exercises the outbox and replay.
    if (occurrence === 0 || random() < 0.5) return 'all';
    return pick(networkTargets);
  };

  const seen = new Map<FaultKind, number>();
  return kinds
    .map((kind) => {
      const occurrence = seen.get(kind) ?? 0;
      seen.set(kind, occurrence + 1);
      const [low, high] = DURATION_MS[kind];
      return { atMs: between(windowStart, windowEnd), kind, target: targetOf(kind, occurrence), durationMs: between(low, high) };
    })
    .sort((a, b) => a.atMs - b.atMs);
}

export function describeEvent(event: FaultEvent): string {
  const lasting = event.durationMs > 0 ? ` for ${event.durationMs} ms` : '';
  return `${(event.atMs / 1000).toFixed(2).padStart(7)} s  ${event.kind} ${event.target}${lasting}`;
}
