import { violations, type CountedInvariants } from '../chaos/chaos-run';
import type { TimelineEntry } from '../chaos/chaos-system';
import type { RedisMode } from './ha-deployment';
import { describeMs, type Failover } from './ha-faults';
import { FAILOVER_BOUND_MS, HA_FAULT_KINDS, type HaFaultEvent } from './ha-schedule';

/** What an HA run counted and timed. */
export interface QueuePlacement {
  name: string;
  type: string;
  members: string[];
  /** A quorum queue with a member on every node of the cluster: it depends on no single node. */
  onEveryNode: boolean;
}

export interface HaReport extends CountedInvariants {
  seed: number;
  durationMs: number;
  redisMode: RedisMode;
  attempted: number;
  accepted: number;
  acceptedPending: number;
  refused: number;
  requests: number;
  retried: number;
  processedUnacknowledged: number;
  duplicatesAbsorbed: number;
  replayed: number;
  drainMs: number;
  failovers: Failover[];
  /** Faults the schedule had that came too late in the load to be carried out. */
  skipped: HaFaultEvent[];
  schedule: HaFaultEvent[];
  placementAtStart: QueuePlacement[];
  placementAtEnd: QueuePlacement[];
  timeline: TimelineEntry[];
  logFiles: string[];
}

/** Failures of the invariants, one line each; empty when the run passed. */
export function haViolations(report: HaReport): string[] {
  const found = violations(report);
  for (const failover of report.failovers) {
    const bound = FAILOVER_BOUND_MS[failover.kind];
    if (failover.recoveredMs === undefined || failover.recoveredMs > bound)
      found.push(`${failover.kind} ${failover.target}: served again after ${describeMs(failover.recoveredMs)} (bound ${bound / 1000} s)`);
  }
  for (const [when, queues] of [
    ['at start', report.placementAtStart],
    ['at the end', report.placementAtEnd],
  ] as const) {
    for (const queue of queues.filter((candidate) => !candidate.onEveryNode))
      found.push(
        `${when}, ${queue.type} queue ${queue.name} is not replicated on every node (members: ${queue.members.join(', ') || 'none'})`,
      );
  }
  return found;
}

/** `median 2.1 s, max 3.4 s` over the given times (`-` for none; a failover that never came counts as the max). */
function spread(times: (number | undefined)[]): string {
  if (times.length === 0) return '-';
  if (times.some((ms) => ms === undefined)) return `max ${describeMs(undefined)}`;
  const sorted = (times as number[]).slice().sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return sorted.length === 1 ? describeMs(median) : `median ${describeMs(median)}, max ${describeMs(sorted[sorted.length - 1])}`;
}

/** Per kind of fault: how often, and how long until the system served again (and its parts). */
function failoverSummary(report: HaReport): string[] {
  return HA_FAULT_KINDS.flatMap((kind) => {
    const ofKind = report.failovers.filter((failover) => failover.kind === kind);
    const lines = [`  ${kind.padEnd(20)} ${ofKind.length}x  served again after ${spread(ofKind.map((f) => f.recoveredMs))}`];
    if (ofKind.some((failover) => failover.producersMs !== undefined || failover.consumersMs !== undefined)) {
      lines.push(`    producers ready after ${spread(ofKind.map((f) => f.producersMs))}`);
      lines.push(`    consumers subscribed after ${spread(ofKind.map((f) => f.consumersMs))}`);
    }
    if (ofKind.some((failover) => failover.leaderMs !== undefined))
      lines.push(`    new leader named after ${spread(ofKind.map((f) => f.leaderMs))}`);
    if (ofKind.some((failover) => failover.promotedMs !== undefined))
      lines.push(`    replica promoted after ${spread(ofKind.map((f) => f.promotedMs))}`);
    if (ofKind.length > 0) lines.push(`    killed process back in place after ${spread(ofKind.map((f) => f.repairedMs))}`);
    return lines;
  });
}

export function formatHaReport(report: HaReport): string {
  const found = haViolations(report);
  const lines = [
    `ha run, seed ${report.seed}, ${report.durationMs / 1000} s of load, Redis ${report.redisMode}: ${found.length === 0 ? 'PASSED' : 'FAILED'}`,
    `  attempted               ${report.attempted}`,
    `  accepted (202)          ${report.accepted} (${report.acceptedPending} as pending)`,
    `  refused (gave up)       ${report.refused}`,
    `  requests / retried      ${report.requests} / ${report.retried} messages`,
    `  lost                    ${report.lost.length}`,
    `  duplicated              ${report.duplicated.length}`,
    `  phantom                 ${report.phantom.length}`,
    `  unacknowledged, done    ${report.processedUnacknowledged}`,
    `  replayed from outbox    >= ${report.replayed}`,
    `  duplicates absorbed     >= ${report.duplicatesAbsorbed}`,
    `  dead-lettered / parked  ${report.deadLettered} / ${report.parked}`,
    `  time to drain           ${report.drainMs} ms`,
    `  queues on every node    ${report.placementAtEnd.filter((queue) => queue.onEveryNode).length} of ${report.placementAtEnd.length}`,
    '  failovers:',
    ...failoverSummary(report),
  ];
  if (report.skipped.length > 0) lines.push(`  skipped (too late)      ${report.skipped.map((event) => event.kind).join(', ')}`);
  if (found.length > 0) {
    lines.push('violations:', ...found.map((line) => `  ${line}`));
    lines.push(`replay with: npm run chaos -- --ha --duration ${report.durationMs / 1000} --seed ${report.seed}`);
    lines.push(
      'failovers:',
      ...report.failovers.map(
        (f) => `  ${(f.atMs / 1000).toFixed(2).padStart(7)} s  ${f.kind} ${f.target}: served again after ${describeMs(f.recoveredMs)}`,
      ),
    );
    lines.push('timeline:', ...report.timeline.map((entry) => `  ${(entry.atMs / 1000).toFixed(2).padStart(7)} s  ${entry.what}`));
    lines.push('app logs:', ...report.logFiles.map((file) => `  ${file}`));
  }
  return `${lines.join('\n')}\n`;
}
