/**
 * Issue 10, item 1: broker flow control. During a RabbitMQ memory alarm the broker blocks every
 * publishing connection (connection.blocked) and confirms nothing until the alarm clears. Runs on a
 * RabbitMQ node and a redis-server of the suite's own (the alarm changes the server).
 *
 * Invariants, over hundreds of messages: while blocked, every POST is answered 202 `pending` without
 * waiting for a confirm (no confirm timeouts counted after the block is known), the replay job sends
 * nothing, /health says why the broker is down, nothing is parked and no attempt is counted; once the
 * alarm clears, every 202 has its effect exactly once and duplicate deliveries stay under 3 %.
 * And a link that stops moving bytes (a stall, through a FaultProxy): beyond PUBLISH_MAX_IN_FLIGHT a
 * send fails at once (backpressure) to the outbox, so the producer's confirms in flight and their bytes
 * stay bounded; every 202 has its effect exactly once.
 *
 * Checked against the code before the fix (E2E_DIST_DIR=<a build of that tree>): the alarm test fails
 * (every POST waited out its confirm, 269 of 301 parked, 842 attempts counted, 874 duplicate
 * deliveries for 351 messages), the stall test too (no backpressure: all 200 sends waited).
 */
import { startApp, stopAll, waitForReady, type AppProcess } from '../support/app-process';
import { getUrl, metricValue, postMessage } from '../support/http';
import { FaultProxy } from '../support/fault-proxy';
import { createOwnServersEnv, type OwnServersEnv } from '../support/own-env';
import { OUTBOX_DUE, OUTBOX_PARKED } from '../support/outbox-keys';
import { appEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { drainAndCount } from './drain';
import { countStatuses, sendLoad } from './load';

const CONFIRM_TIMEOUT_MS = 2000;
const PRODUCER_SETTINGS = {
  PUBLISH_CONFIRM_TIMEOUT_MS: String(CONFIRM_TIMEOUT_MS),
  OUTBOX_REPLAY_INTERVAL_MS: '200',
  OUTBOX_BACKOFF_BASE_MS: '100',
  OUTBOX_BACKOFF_MAX_MS: '1000',
  OUTBOX_LEASE_MS: '10000',
  // Low, so that counting timeouts as attempts (as before) would park messages within the alarm.
  OUTBOX_MAX_ATTEMPTS: '3',
};
const RECORD_PREFIX = 'messaging:{outbox}:record:';
const BLOCKED = 'down: broker connection blocked: low on memory';

const SAMPLES = {
  timeouts: 'messaging_publish_failures_total{kind="timeout"}',
  /** Sends that were written to the broker and ended without a confirm (the older code's measure too). */
  unconfirmed: 'messaging_publish_confirm_seconds_count{outcome="failed"}',
  blocked: 'messaging_publish_failures_total{kind="blocked"}',
  backpressure: 'messaging_publish_failures_total{kind="backpressure"}',
  inFlight: 'messaging_publish_in_flight',
  inFlightBytes: 'messaging_publish_in_flight_bytes',
  replaysPublished: 'messaging_replays_total{result="published"}',
  replaysFailed: 'messaging_replays_total{result="failed"}',
  replaysDeferred: 'messaging_replays_total{result="deferred"}',
  replaysParked: 'messaging_replays_total{result="parked"}',
};

describe('broker flow control (a memory alarm blocks the publishing connection)', () => {
  let env: OwnServersEnv;
  let producer: AppProcess;
  let consumer: AppProcess;

  async function metrics(app: AppProcess): Promise<Record<keyof typeof SAMPLES, number>> {
    const text = String((await getUrl(app.url('/metrics'))).body);
    return Object.fromEntries(Object.entries(SAMPLES).map(([key, sample]) => [key, metricValue(text, sample)])) as Record<
      keyof typeof SAMPLES,
      number
    >;
  }

  const brokerHealth = async () => {
    const health = await getUrl(producer.url('/health'));
    return { status: health.status, broker: (health.body as { details?: { intake?: { broker?: string } } })?.details?.intake?.broker };
  };

  const attemptsCounted = async (ids: string[]) => {
    const pipeline = env.redis.pipeline();
    for (const id of ids) pipeline.hget(RECORD_PREFIX + id, 'attempts');
    const rows = ((await pipeline.exec()) ?? []) as [unknown, string | null][];
    return rows.map(([, attempts]) => Number(attempts ?? 0)).reduce((sum, n) => sum + n, 0);
  };

  beforeAll(async () => {
    env = await createOwnServersEnv('flow');
    consumer = await startApp('consumer', appEnv(env));
    producer = await startApp('producer', { ...appEnv(env), ...PRODUCER_SETTINGS });
    // Live is not ready: until its confirm channel is open the producer stores what it takes ('pending').
    await Promise.all([waitForReady(consumer), waitForReady(producer)]);
  }, 180_000);

  afterAll(async () => {
    await stopAll();
    await env?.rabbit.setMemoryAlarm(false).catch(() => undefined);
    await env?.cleanup();
  });

  it('while blocked: 202 pending at once, no replays, /health says why, nothing parked or counted; after: each once, few duplicates', async () => {
    const baseUrl = () => producer.url('');
    const before = await sendLoad({ count: 50, concurrency: 5, baseUrl });
    expect(before.unexpected).toEqual([]);
    expect(countStatuses(before).published).toBe(50);

    await env.rabbit.setMemoryAlarm(true);
    // The broker blocks a connection at its first publish during the alarm (and then says so): that
    // publish cannot be confirmed and waits out its timeout, as nothing can tell the producer sooner.
    // A trigger is sent until the block is known (one, unless the alarm reached the connection late).
    const triggers = new Map<string, string>();
    const triggerRefusals: number[] = [];
    await waitFor(
      async () => {
        if ((await brokerHealth()).broker === BLOCKED) return true;
        const trigger = await postMessage(baseUrl(), { type: 'flow.test', payload: { trigger: triggers.size } });
        if (trigger.status === 202) triggers.set(trigger.body.id as string, trigger.body.status as string);
        else triggerRefusals.push(trigger.status);
        return false;
      },
      { timeoutMs: 20_000, description: '/health to say blocked' },
    );
    const triggersPending = [...triggers].filter(([, status]) => status === 'pending').map(([id]) => id);
    expect(triggerRefusals).toEqual([]);
    expect(triggersPending.length).toBeGreaterThanOrEqual(1);
    const atBlock = await metrics(producer);

    const during = await sendLoad({ count: 300, concurrency: 10, baseUrl, type: 'flow.test' });
    // The replay job runs every 200 ms: give it ten chances to (wrongly) send the blocked backlog.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const blocked = await metrics(producer);

    expect(during.unexpected).toEqual([]);
    expect(during.refused).toBe(0);
    expect(countStatuses(during)).toEqual({ published: 0, pending: 300 });
    // No POST waited for a confirm: each was refused at once as blocked, none timed out.
    expect(blocked.timeouts - atBlock.timeouts).toBe(0);
    expect(blocked.unconfirmed - atBlock.unconfirmed).toBe(0);
    expect(blocked.blocked - atBlock.blocked).toBeGreaterThanOrEqual(300);
    // The replay job paused: nothing sent, nothing failed, deferred or parked.
    for (const key of ['replaysPublished', 'replaysFailed', 'replaysDeferred', 'replaysParked'] as const) {
      expect({ [key]: blocked[key] }).toEqual({ [key]: atBlock[key] });
    }
    expect(blocked.inFlight).toBeLessThanOrEqual(1);
    expect(await brokerHealth()).toEqual({ status: 200, broker: BLOCKED });
    const pendingIds = [...triggersPending, ...during.accepted.keys()];
    expect(await env.redis.zcard(OUTBOX_DUE)).toBe(pendingIds.length);
    expect(await env.redis.zcard(OUTBOX_PARKED)).toBe(0);
    expect(await attemptsCounted(pendingIds)).toBe(0);

    await env.rabbit.setMemoryAlarm(false);
    const all = [...before.accepted.keys(), ...triggers.keys(), ...during.accepted.keys()];
    expect(await drainAndCount(env, all)).toEqual({ lost: [], duplicated: [] });
    expect(await env.redis.zcard(OUTBOX_PARKED)).toBe(0);
    const consumed = String((await getUrl(consumer.url('/metrics'))).body);
    const duplicates = metricValue(consumed, 'messaging_consumed_total{result="duplicate"}');
    expect(metricValue(consumed, 'messaging_consumed_total{result="processed"}')).toBe(all.length);
    expect(duplicates).toBeLessThanOrEqual(Math.floor(all.length * 0.03));
    expect(await brokerHealth()).toEqual({ status: 200, broker: 'up' });
  }, 240_000);
  it('a broker that stops answering: beyond PUBLISH_MAX_IN_FLIGHT a send fails at once to the outbox; memory stays bounded; each once', async () => {
    await producer.kill();
    const proxy = await FaultProxy.start(env.rabbit.port);
    try {
      const maxInFlight = 20;
      const stalledProducer = await startApp('producer', {
        ...appEnv(env),
        ...PRODUCER_SETTINGS,
        RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}/${env.vhost}`,
        PUBLISH_CONFIRM_TIMEOUT_MS: '5000',
        PUBLISH_MAX_IN_FLIGHT: String(maxInFlight),
        OUTBOX_REPLAY_BATCH_SIZE: String(maxInFlight),
      });
      // Its publisher channel open (topology declared) before the link stalls.
      await waitForReady(stalledProducer);
      const start = await metrics(stalledProducer);
      // No byte moves either way (as when a link drops packets), shorter than the heartbeat timeout.
      proxy.stall();
      const load = sendLoad({ count: 200, concurrency: 40, baseUrl: () => stalledProducer.url(''), type: 'flow.test' });
      const answered = await load;
      const stalled = await metrics(stalledProducer);
      proxy.resume();

      expect(answered.unexpected).toEqual([]);
      expect(answered.refused).toBe(0);
      // Only the first window waited for a confirm; every other send was refused at once.
      expect(stalled.backpressure - start.backpressure).toBeGreaterThanOrEqual(200 - 2 * maxInFlight);
      expect(stalled.inFlight).toBeLessThanOrEqual(maxInFlight);
      expect(stalled.inFlightBytes).toBeLessThanOrEqual(maxInFlight * 1024);
      expect(countStatuses(answered).pending).toBeGreaterThanOrEqual(200 - maxInFlight);
      expect(await drainAndCount(env, answered.accepted.keys())).toEqual({ lost: [], duplicated: [] });
      expect(await env.redis.zcard(OUTBOX_PARKED)).toBe(0);
    } finally {
      proxy.resume();
      await proxy.stop();
    }
  }, 120_000);
});
