import { waitForReady } from '../support/app-process';
import { OUTBOX_PARKED } from '../support/outbox-keys';
import { processedCounts } from '../support/processed';
import { queueState } from '../support/queue-state';
import { createOwnServersEnv, type OwnServersEnv } from '../support/own-env';
import type { TestEnv } from '../support/test-env';
import { runChaosLoad, type ChaosLoadResult } from './chaos-load';
import { describeEvent, FAULT_KINDS, faultSchedule, type FaultEvent, type FaultKind } from './chaos-schedule';
import { CHAOS_SETTINGS, ChaosSystem, type TimelineEntry } from './chaos-system';
import { consumedQueues, drain, quiesce } from './settle';

/**
 * One chaos run, Jepsen style: a paced load of retrying clients against real producer and consumer
 * processes while a seeded schedule cuts, refuses and stalls their links and SIGKILLs them; then the
 * system is healed and drained, and every message is counted in `messaging:processed`.
 */
export interface ChaosOptions {
  seed: number;
  durationMs: number;
  ratePerSecond: number;
  producers: number;
  consumers: number;
  /** How long the healed system may take to drain before the missing messages are reported lost. */
  drainTimeoutMs: number;
  /** Progress lines (faults as they happen). */
  log: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  durationMs: number;
  /** Messages the clients tried to send (each with its own Idempotency-Key). */
  attempted: number;
  /** Messages answered 202. */
  accepted: number;
  acceptedPending: number;
  /** Messages the clients gave up on after their retries (never answered 202). */
  refused: number;
  /** HTTP requests in all, retries included. */
  requests: number;
  /** Messages that needed more than one request. */
  retried: number;
  /** Accepted messages without an effect. */
  lost: string[];
  /** Messages with more than one effect. */
  duplicated: string[];
  /** Effects of ids no client sent. */
  phantom: string[];
  /** Messages accepted as pending (stored in the outbox) and then processed once. */
  recoveredAfterReplay: number;
  /** Messages a client gave up on that the producer had taken after all (a 202 lost on the wire): processed once. */
  processedUnacknowledged: number;
  /** Deliveries the consumers' guard acknowledged without running the handler again (a lower bound). */
  duplicatesAbsorbed: number;
  /** Messages the producers' replay job published from the outbox (a lower bound). */
  replayed: number;
  deadLettered: number;
  parked: number;
  unexpected: ChaosLoadResult['unexpected'];
  /** From the end of the load (all links healed) until every accepted message had its effect. */
  drainMs: number;
  injected: Record<FaultKind, number>;
  schedule: FaultEvent[];
  timeline: TimelineEntry[];
  logFiles: string[];
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  // Servers of the run's own: the memory alarm and Redis's maxmemory change the server.
  const env: OwnServersEnv = await createOwnServersEnv('chaos');
  let system: ChaosSystem | undefined;
  try {
    const schedule = faultSchedule(options);
    options.log(
      `chaos: seed ${options.seed}, ${options.durationMs / 1000} s at ${options.ratePerSecond} msg/s, ${schedule.length} faults:`,
    );
    for (const event of schedule) options.log(`  ${describeEvent(event)}`);

    system = await ChaosSystem.start(env, options);
    await Promise.all(system.apps().map((app) => waitForReady(app)));
    const load = await runUnderFaults(system, schedule, options);
    const drainMs = await drain(env, system, acceptedIds(load), options.drainTimeoutMs);
    await quiesce(env, system, consumedQueues(CHAOS_SETTINGS));
    return await count(env, system, load, schedule, drainMs, options);
  } finally {
    await system?.shutdown();
    await env.cleanup();
  }
}

/** The counts the invariants are about (shared with the HA run, test/ha/ha-run.ts). */
export type CountedInvariants = Pick<ChaosReport, 'lost' | 'duplicated' | 'phantom' | 'deadLettered' | 'parked' | 'unexpected'>;

/** Failures of the invariants, one line each; empty when the run passed. */
export function violations(report: CountedInvariants): string[] {
  const found: string[] = [];
  if (report.lost.length > 0) found.push(`${report.lost.length} accepted messages lost: ${sample(report.lost)}`);
  if (report.duplicated.length > 0)
    found.push(`${report.duplicated.length} messages processed more than once: ${sample(report.duplicated)}`);
  if (report.phantom.length > 0) found.push(`${report.phantom.length} effects of messages nobody sent: ${sample(report.phantom)}`);
  if (report.deadLettered > 0) found.push(`${report.deadLettered} messages dead-lettered (valid messages must never be)`);
  if (report.parked > 0) found.push(`${report.parked} messages parked in the outbox`);
  if (report.unexpected.length > 0)
    found.push(`${report.unexpected.length} answers the contract does not allow: ${JSON.stringify(report.unexpected.slice(0, 5))}`);
  return found;
}

export function formatReport(report: ChaosReport): string {
  const found = violations(report);
  const lines = [
    `chaos run, seed ${report.seed}, ${report.durationMs / 1000} s of load: ${found.length === 0 ? 'PASSED' : 'FAILED'}`,
    `  attempted               ${report.attempted}`,
    `  accepted (202)          ${report.accepted} (${report.acceptedPending} as pending)`,
    `  refused (gave up)       ${report.refused}`,
    `  requests / retried      ${report.requests} / ${report.retried} messages`,
    `  lost                    ${report.lost.length}`,
    `  duplicated              ${report.duplicated.length}`,
    `  recovered after replay  ${report.recoveredAfterReplay}`,
    `  unacknowledged, done    ${report.processedUnacknowledged}`,
    `  replayed from outbox    >= ${report.replayed}`,
    `  duplicates absorbed     >= ${report.duplicatesAbsorbed}`,
    `  dead-lettered / parked  ${report.deadLettered} / ${report.parked}`,
    `  time to drain           ${report.drainMs} ms`,
    `  faults injected         ${FAULT_KINDS.map((kind) => `${kind} ${report.injected[kind]}`).join(', ')}`,
  ];
  if (found.length > 0) {
    lines.push('violations:', ...found.map((line) => `  ${line}`));
    lines.push(`replay with: npm run chaos -- --duration ${report.durationMs / 1000} --seed ${report.seed}`);
    lines.push('fault timeline:', ...report.timeline.map((entry) => `  ${(entry.atMs / 1000).toFixed(2).padStart(7)} s  ${entry.what}`));
    lines.push('app logs:', ...report.logFiles.map((file) => `  ${file}`));
  }
  return `${lines.join('\n')}\n`;
}

async function runUnderFaults(system: ChaosSystem, schedule: FaultEvent[], options: ChaosOptions): Promise<ChaosLoadResult> {
  const stop = new AbortController();
  system.markLoadStart();
  const started = Date.now();
  const loading = runChaosLoad({
    producers: () => system.producerUrls(),
    ratePerSecond: options.ratePerSecond,
    durationMs: options.durationMs,
    giveUpAfterMs: 30_000,
    keyPrefix: `chaos-${options.seed}-${started}`,
    signal: stop.signal,
  });
  const faults: Promise<void>[] = [];
  for (const event of schedule) {
    await sleep(started + event.atMs - Date.now());
    options.log(`  fault ${describeEvent(event)}`);
    const healing = system.inject(event);
    if (healing) faults.push(healing);
  }
  await Promise.all(faults);
  await system.heal();
  return loading;
}

async function count(
  env: TestEnv,
  system: ChaosSystem,
  load: ChaosLoadResult,
  schedule: FaultEvent[],
  drainMs: number,
  options: ChaosOptions,
): Promise<ChaosReport> {
  const counts = await processedCounts(env.redis);
  const sent = new Set(load.messages.map((message) => message.id));
  const accepted = load.messages.filter((message) => message.accepted !== undefined);
  const notAccepted = load.messages.filter((message) => message.accepted === undefined);
  const injected = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, system.injected.get(kind) ?? 0])) as Record<FaultKind, number>;
  return {
    seed: options.seed,
    durationMs: options.durationMs,
    attempted: load.messages.length,
    accepted: accepted.length,
    acceptedPending: accepted.filter((message) => message.accepted === 'pending').length,
    refused: notAccepted.length,
    requests: load.messages.reduce((sum, message) => sum + message.attempts, 0),
    retried: load.messages.filter((message) => message.attempts > 1).length,
    lost: accepted.filter((message) => !counts.has(message.id)).map((message) => message.id),
    duplicated: [...counts].filter(([, times]) => times > 1).map(([id]) => id),
    phantom: [...counts.keys()].filter((id) => !sent.has(id)),
    recoveredAfterReplay: accepted.filter((message) => message.accepted === 'pending' && counts.get(message.id) === 1).length,
    processedUnacknowledged: notAccepted.filter((message) => counts.get(message.id) === 1).length,
    duplicatesAbsorbed: system.counted('messaging_consumed_total{result="duplicate"}'),
    replayed: system.counted('messaging_replays_total{result="published"}'),
    deadLettered: (await queueState(env, 'messaging.consumer.dlq'))?.ready ?? 0,
    parked: await env.redis.zcard(OUTBOX_PARKED),
    unexpected: load.unexpected,
    drainMs,
    injected,
    schedule,
    timeline: system.timeline,
    logFiles: system.logFiles(),
  };
}

function acceptedIds(load: ChaosLoadResult): string[] {
  return load.messages.filter((message) => message.accepted !== undefined).map((message) => message.id);
}

function sample(ids: string[]): string {
  return ids.length > 20 ? `${ids.slice(0, 20).join(', ')}, ...` : ids.join(', ');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
