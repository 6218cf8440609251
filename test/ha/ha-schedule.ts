import { seededRandom } from '../chaos/chaos-schedule';

/**
 * The fault schedule of an HA run: a pure function of (seed, duration, instances). Faults come one
 * after the other: the runner starts a fault at its time or once the system has recovered from the
 * previous one, whichever is later, so each failover is measured on its own. A killed server is down
 * at most one at a time per kind (one RabbitMQ node, one Redis data node): what HA promises to survive.
 */
export type HaFaultKind = 'kill-queue-leader' | 'kill-other-node' | 'kill-redis-primary' | 'kill-producer' | 'kill-consumer';

export const HA_FAULT_KINDS: readonly HaFaultKind[] = [
  'kill-queue-leader',
  'kill-producer',
  'kill-redis-primary',
  'kill-consumer',
  'kill-other-node',
];

/**
 * How long the system may take to serve again after a fault ("within seconds"): the loss of a
 * RabbitMQ node or of the Redis primary, and the restart of a killed app (its start included).
 */
export const FAILOVER_BOUND_MS: Record<HaFaultKind, number> = {
  'kill-queue-leader': 15_000,
  'kill-other-node': 15_000,
  'kill-redis-primary': 15_000,
  'kill-producer': 30_000,
  'kill-consumer': 30_000,
};

export interface HaFaultEvent {
  /** Milliseconds after the load starts (the earliest start: the previous fault's recovery may delay it). */
  atMs: number;
  kind: HaFaultKind;
  /** An app instance (`producer-2`) for app kills; the server is found at the time of the fault. */
  target?: string;
  /** How long the killed process stays down before its restart. */
  downMs: number;
}

export interface HaScheduleOptions {
  seed: number;
  durationMs: number;
  producers: number;
  consumers: number;
}

/** One fault every this many milliseconds of load, on average; every kind at least once. */
const MEAN_GAP_MS = 8_000;
/** Faults start within this part of the load, so the run ends on a repaired system. */
const FAULT_WINDOW = { start: 0.05, end: 0.75 };
const DOWN_MS: Record<HaFaultKind, [number, number]> = {
  'kill-queue-leader': [1_000, 5_000],
  'kill-other-node': [1_000, 5_000],
  'kill-redis-primary': [500, 3_000],
  'kill-producer': [200, 2_000],
  'kill-consumer': [200, 2_000],
};

export function haFaultSchedule(options: HaScheduleOptions): HaFaultEvent[] {
  const random = seededRandom(options.seed);
  const between = (low: number, high: number) => Math.round(low + random() * (high - low));
  const windowStart = options.durationMs * FAULT_WINDOW.start;
  const windowEnd = options.durationMs * FAULT_WINDOW.end;
  const count = Math.max(HA_FAULT_KINDS.length, Math.round((windowEnd - windowStart) / MEAN_GAP_MS));

  // Rounds of every kind in a shuffled order (the first round in the listed order: a short run then
  // starts with the leader's node, the fault that matters most, while there is load to measure it).
  const kinds: HaFaultKind[] = [];
  while (kinds.length < count) {
    const round = [...HA_FAULT_KINDS];
    if (kinds.length > 0) {
      for (let i = round.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [round[i], round[j]] = [round[j], round[i]];
      }
    }
    kinds.push(...round);
  }
  const gap = (windowEnd - windowStart) / count;
  return kinds.slice(0, count).map((kind, i) => {
    const [low, high] = DOWN_MS[kind];
    const event: HaFaultEvent = { atMs: Math.round(windowStart + i * gap + random() * gap * 0.3), kind, downMs: between(low, high) };
    if (kind === 'kill-producer') event.target = `producer-${between(1, options.producers)}`;
    if (kind === 'kill-consumer') event.target = `consumer-${between(1, options.consumers)}`;
    return event;
  });
}

export function describeHaEvent(event: HaFaultEvent): string {
  return `${(event.atMs / 1000).toFixed(2).padStart(7)} s  ${event.kind}${event.target ? ` ${event.target}` : ''}, down ${event.downMs} ms`;
}
