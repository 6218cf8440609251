import { loadMessagingSettings } from '@app/messaging/config';
import { buildTopology } from '@app/messaging/topology';
import type { AppKind } from '../support/app-process';
import { OUTBOX_DUE } from '../support/outbox-keys';
import { processedCounts } from '../support/processed';
import { queueState } from '../support/queue-state';
import type { TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';

/**
 * The end of a run, shared by the chaos and the HA suites: wait until the healed system has drained,
 * then stop everything and let one consumer take what is left, so a late duplicate is counted rather
 * than missed.
 */
export interface SettlingSystem {
  note(what: string): void;
  stop(kind: AppKind): Promise<void>;
  restart(name: string): Promise<unknown>;
}

const WORK_QUEUE = 'messaging.consumer';
export const FINAL_CONSUMER = 'consumer-1';

/** The work queue and its delay queues, as the apps declare them with the run's settings. */
export function consumedQueues(settings: Record<string, string>): string[] {
  return [WORK_QUEUE, ...new Set(buildTopology(loadMessagingSettings(settings)).retryQueues)];
}

/** Waits until every accepted message has its effect and nothing is left in the outbox or the work queue. */
export async function drain(env: TestEnv, system: SettlingSystem, accepted: string[], timeoutMs: number): Promise<number> {
  const started = Date.now();
  await waitFor(
    async () => {
      const counts = await processedCounts(env.redis);
      if (!accepted.every((id) => counts.has(id))) return false;
      if ((await env.redis.zcard(OUTBOX_DUE)) > 0) return false;
      return (await queueState(env, WORK_QUEUE))?.ready === 0;
    },
    { timeoutMs, intervalMs: 250, description: `${accepted.length} accepted messages to be processed` },
  ).catch((error: Error) => system.note(`drain: ${error.message}`));
  system.note(`drained after ${Date.now() - started} ms`);
  return Date.now() - started;
}

/**
 * Stops everything and lets one consumer take what is left (deliveries handed back at the stop, retries
 * waiting in delay queues).
 */
export async function quiesce(env: TestEnv, system: SettlingSystem, queues: string[]): Promise<void> {
  await system.stop('producer');
  await system.stop('consumer');
  if ((await messagesLeft(env, queues)) === 0) return;
  system.note('messages left in the queues: one consumer takes them');
  await system.restart(FINAL_CONSUMER);
  await waitFor(async () => (await messagesLeft(env, queues)) === 0, {
    timeoutMs: 60_000,
    intervalMs: 250,
    description: 'the queues to empty',
  }).catch((error: Error) => system.note(`quiesce: ${error.message}`));
  await system.stop('consumer');
}

/** Ready messages in the given queues (live counts, not statistics). */
async function messagesLeft(env: TestEnv, queues: string[]): Promise<number> {
  let left = 0;
  for (const name of queues) left += (await queueState(env, name))?.ready ?? 0;
  return left;
}
