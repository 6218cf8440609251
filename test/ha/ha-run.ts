import { waitForReady } from '../support/app-process';
import { OUTBOX_PARKED } from '../support/outbox-keys';
import { processedCounts } from '../support/processed';
import { queueState } from '../support/queue-state';
import { runChaosLoad, type ChaosLoadResult } from '../chaos/chaos-load';
import { queueMembership, startHaDeployment, type HaDeployment, type RedisMode } from './ha-deployment';
import { describeMs, injectHaFault, type Failover } from './ha-faults';
import type { HaReport, QueuePlacement } from './ha-report';
import { describeHaEvent, haFaultSchedule, type HaFaultEvent, type HaFaultKind } from './ha-schedule';
import { HA_SETTINGS, HaSystem } from './ha-system';
import { consumedQueues, drain, quiesce } from '../chaos/settle';

/**
 * One HA run: two producers and two consumers on a 3-node RabbitMQ cluster and a Redis primary +
 * replica under Sentinels, under a paced load of retrying clients, while a seeded schedule SIGKILLs
 * the node leading the work queue, another node, the Redis primary and apps (each restarted). Then
 * drain, quiesce and count every message in `messaging:processed`, and time each failover.
 */
export interface HaOptions {
  seed: number;
  durationMs: number;
  ratePerSecond: number;
  producers: number;
  consumers: number;
  drainTimeoutMs: number;
  redisMode: RedisMode;
  log: (line: string) => void;
}

/** A fault due this late in the load is skipped (there would be no load left to measure it with). */
const LATEST_FAULT = 0.9;

export async function runHa(options: HaOptions): Promise<HaReport> {
  const schedule = haFaultSchedule(options);
  options.log(
    `ha: seed ${options.seed}, ${options.durationMs / 1000} s at ${options.ratePerSecond} msg/s, Redis ${options.redisMode}, ${schedule.length} faults:`,
  );
  for (const event of schedule) options.log(`  ${describeHaEvent(event)}`);
  const bootStarted = Date.now();
  const deployment = await startHaDeployment('ha', options.redisMode);
  let system: HaSystem | undefined;
  try {
    system = await HaSystem.start(deployment, options);
    await Promise.all(system.apps().map((app) => waitForReady(app, 60_000)));
    options.log(`  cluster, Sentinels and apps up after ${((Date.now() - bootStarted) / 1000).toFixed(1)} s`);
    const placementAtStart = await placement(deployment);
    const { load, failovers, skipped } = await runUnderFaults(deployment, system, schedule, options);
    const accepted = load.messages.filter((message) => message.accepted !== undefined).map((message) => message.id);
    const drainMs = await drain(deployment, system, accepted, options.drainTimeoutMs);
    const placementAtEnd = await placement(deployment);
    await quiesce(deployment, system, consumedQueues(HA_SETTINGS));
    return {
      ...(await count(deployment, system, load, drainMs)),
      seed: options.seed,
      durationMs: options.durationMs,
      redisMode: options.redisMode,
      failovers,
      skipped,
      schedule,
      placementAtStart,
      placementAtEnd,
    };
  } finally {
    await system?.shutdown();
    await deployment.cleanup();
  }
}

async function runUnderFaults(
  deployment: HaDeployment,
  system: HaSystem,
  schedule: HaFaultEvent[],
  options: HaOptions,
): Promise<{ load: ChaosLoadResult; failovers: Failover[]; skipped: HaFaultEvent[] }> {
  const stop = new AbortController();
  system.markLoadStart();
  const started = Date.now();
  const loading = runChaosLoad({
    producers: () => system.producerUrls(),
    ratePerSecond: options.ratePerSecond,
    durationMs: options.durationMs,
    giveUpAfterMs: 30_000,
    keyPrefix: `ha-${options.seed}-${started}`,
    signal: stop.signal,
  });
  const failovers: Failover[] = [];
  const skipped: HaFaultEvent[] = [];
  const repairs: Promise<void>[] = [];
  const unrepaired = new Map<string, Promise<void>>();
  let previous: Promise<unknown> = Promise.resolve();
  for (const event of schedule) {
    await sleep(started + event.atMs - Date.now());
    // Each failover is measured on its own, and one server of a kind is down at a time.
    await previous;
    await unrepaired.get(track(event.kind));
    if (Date.now() - started > options.durationMs * LATEST_FAULT) {
      skipped.push(event);
      options.log(`  fault skipped (too late in the load): ${describeHaEvent(event)}`);
      continue;
    }
    options.log(`  fault at ${(system.now() / 1000).toFixed(2)} s: ${describeHaEvent(event)}`);
    const { failover, repaired } = injectHaFault(event, deployment, system);
    previous = failover.then((record) => {
      failovers.push(record);
      options.log(`    ${record.kind} ${record.target}: served again after ${describeMs(record.recoveredMs)}`);
    });
    // Awaited later (the next fault, the end of the load); marked handled so a failure waits for that.
    previous.catch(() => undefined);
    repaired.catch(() => undefined);
    unrepaired.set(track(event.kind), repaired);
    repairs.push(repaired);
  }
  await previous;
  await Promise.all(repairs);
  await system.settled();
  system.note('every killed process is back');
  return { load: await loading, failovers, skipped };
}

function track(kind: HaFaultKind): string {
  if (kind === 'kill-queue-leader' || kind === 'kill-other-node') return 'rabbit';
  return kind === 'kill-redis-primary' ? 'redis' : kind;
}

/** Where each queue of the vhost lives: its type and the nodes it has members on. */
async function placement(deployment: HaDeployment): Promise<QueuePlacement[]> {
  const nodes = deployment.cluster.nodes.map((node) => node.nodeName);
  return (await queueMembership(deployment)).map((queue) => ({
    ...queue,
    onEveryNode: queue.type === 'quorum' && nodes.every((node) => queue.members.includes(node)),
  }));
}

type Counted = Omit<
  HaReport,
  'seed' | 'durationMs' | 'redisMode' | 'failovers' | 'skipped' | 'schedule' | 'placementAtStart' | 'placementAtEnd'
>;

async function count(deployment: HaDeployment, system: HaSystem, load: ChaosLoadResult, drainMs: number): Promise<Counted> {
  const counts = await processedCounts(deployment.redis);
  const sent = new Set(load.messages.map((message) => message.id));
  const accepted = load.messages.filter((message) => message.accepted !== undefined);
  const notAccepted = load.messages.filter((message) => message.accepted === undefined);
  return {
    attempted: load.messages.length,
    accepted: accepted.length,
    acceptedPending: accepted.filter((message) => message.accepted === 'pending').length,
    refused: notAccepted.length,
    requests: load.messages.reduce((sum, message) => sum + message.attempts, 0),
    retried: load.messages.filter((message) => message.attempts > 1).length,
    lost: accepted.filter((message) => !counts.has(message.id)).map((message) => message.id),
    duplicated: [...counts].filter(([, times]) => times > 1).map(([id]) => id),
    phantom: [...counts.keys()].filter((id) => !sent.has(id)),
    processedUnacknowledged: notAccepted.filter((message) => counts.get(message.id) === 1).length,
    duplicatesAbsorbed: system.counted('messaging_consumed_total{result="duplicate"}'),
    replayed: system.counted('messaging_replays_total{result="published"}'),
    deadLettered: (await queueState(deployment, 'messaging.consumer.dlq'))?.ready ?? 0,
    parked: await deployment.redis.zcard(OUTBOX_PARKED),
    unexpected: load.unexpected,
    drainMs,
    timeline: system.timeline,
    logFiles: system.logFiles(),
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
