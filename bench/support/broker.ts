import { loadMessagingSettings, type MessagingSettings } from '@app/messaging/config';
import { assertTopology, buildTopology } from '@app/messaging/topology';
import type { TestEnv } from '../../test/support/test-env';
import { startScript } from './script-process';

/** Filler characters in the payload of every message the consumer and drain benchmarks send (~230-byte envelope). */
export const PAYLOAD_PAD = 64;

/** The quorum queue (behind a topic exchange of the same name) the baselines use. */
export const BASELINE_QUEUE = 'bench.baseline';

/** The project's settings as the apps see them with nothing configured: the default names. */
export function defaultSettings(): MessagingSettings {
  return loadMessagingSettings({});
}

/** Declares the project's topology in the suite's vhost, as the apps would, so it can be filled before they start. */
/**
 * The arguments of the project's work queue (overflow, dead-lettering, delivery limit), as JSON for the
 * baselines' QUEUE_ARGUMENTS: their queue is declared like the project's, so the broker does the same
 * work per publish for both.
 */
export function projectQueueArguments(): string {
  const settings = defaultSettings();
  const work = buildTopology(settings).queues.find((queue) => queue.name === settings.names.queue);
  if (!work) throw new Error(`the topology has no work queue ${settings.names.queue}`);
  return JSON.stringify(work.options.arguments);
}

export async function declareProjectTopology(env: TestEnv): Promise<MessagingSettings> {
  const settings = defaultSettings();
  const connection = await env.amqp();
  try {
    const channel = await connection.createChannel();
    await assertTopology(channel, buildTopology(settings));
  } finally {
    await connection.close();
  }
  return settings;
}

export async function purgeQueues(env: TestEnv, ...queues: string[]): Promise<void> {
  const connection = await env.amqp();
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.purgeQueue(queue);
  } finally {
    await connection.close();
  }
}

export interface PublishResult {
  count: number;
  ms: number;
  perSecond: number;
  nacked: number;
  rssBytes: number;
  peakRssBytes: number;
}

/**
 * Publishes `count` envelope messages through `exchange` with the raw confirmed publisher
 * (bench/baselines/raw-publish.js): the publishing baseline, and the filler of queues.
 */
export async function rawPublish(
  env: TestEnv,
  options: { exchange: string; count: number; window?: number; type?: string; declareQueue?: string },
): Promise<PublishResult> {
  const script = startScript('raw-publish.js', {
    AMQP_URL: env.amqpUrl,
    EXCHANGE: options.exchange,
    COUNT: String(options.count),
    WINDOW: String(options.window ?? 500),
    TYPE: options.type ?? 'bench.publish',
    PAD: String(PAYLOAD_PAD),
    QUEUE_ARGUMENTS: projectQueueArguments(),
    ...(options.declareQueue ? { DECLARE_QUEUE: options.declareQueue } : {}),
  });
  const result = await script.result<PublishResult>();
  if (result.nacked > 0) throw new Error(`raw publish: ${result.nacked} of ${result.count} messages nacked`);
  return result;
}
