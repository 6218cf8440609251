import { randomUUID } from 'node:crypto';
import { createEnvelope, toWireMessage } from '@app/messaging/envelope';
import { OutboxStore } from '@app/messaging/outbox';
import { metricValue } from '../test/support/http';
import { queueState } from '../test/support/queue-state';
import { createTestEnv, type TestEnv } from '../test/support/test-env';
import { startBenchApp, type BenchApp, type BenchContext } from './support/bench-app';
import { BASELINE_QUEUE, PAYLOAD_PAD, defaultSettings, purgeQueues, rawPublish } from './support/broker';
import type { BenchSection, MemoryReading } from './support/report';
import { untilMachineQuiet } from './support/quiet-machine';
import { formatNumber, formatRatio, formatTarget, mean, sleep } from './support/stats';

const BACKLOG = 20_000;
/** Messages each side sends before the first round. */
const WARM_UP = 2_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET = 0.8;
/** The replay job's confirm window (OUTBOX_REPLAY_BATCH_SIZE default), and the raw publisher's: the same for both. */
const WINDOW = defaultSettings().outbox.replayBatchSize;
/**
 * How often the replay job looks for due messages (the default is 1000 ms). The drain is timed from
 * the moment the backlog becomes due, so the wait for the job's next tick counts against the project;
 * 100 ms keeps that wait small next to the drain itself.
 */
const REPLAY_INTERVAL_MS = 100;
const FILL_CONCURRENCY = 1_000;

interface DrainRun {
  ms: number;
  perSecond: number;
  /** CPU the publishing process used per message over the timed phase, µs (the producer's from /proc, 10 ms resolution). */
  cpuUsPerMessage: number;
  /** How long the round waited for a quiet machine before its clock started. */
  quietWaitMs: number;
}

function cpuCell(runs: DrainRun[]): string {
  return `${formatNumber(mean(runs.map((run) => run.cpuUsPerMessage)))} µs`;
}

/**
 * Writes the backlog through the library's own OutboxStore, as failed sends would, but not yet due
 * (stored "in the future"), so the running producer leaves it alone while it is being written.
 */
async function fillOutbox(store: OutboxStore, dueInMs: number, count: number): Promise<void> {
  const pad = 'x'.repeat(PAYLOAD_PAD);
  for (let start = 0; start < count; start += FILL_CONCURRENCY) {
    const writes: Promise<void>[] = [];
    for (let i = start; i < Math.min(count, start + FILL_CONCURRENCY); i++) {
      writes.push(store.store(toWireMessage(createEnvelope('bench.outbox', { i, pad }), randomUUID()), 'bench: broker refused', dueInMs));
    }
    await Promise.all(writes);
  }
}

async function projectRound(env: TestEnv, producer: BenchApp, count = BACKLOG): Promise<DrainRun> {
  const settings = defaultSettings();
  const store = new OutboxStore(env.redis, settings.names.redisKeyPrefix);
  await fillOutbox(store, 3_600_000, count);
  if ((await store.counts()).pending !== count) throw new Error(`outbox holds ${(await store.counts()).pending}, not ${count}`);
  const metricsBefore = await (await fetch(producer.app.url('/metrics'))).text();
  const before = metricValue(metricsBefore, 'messaging_replays_total{result="published"}');
  const deferredBefore = metricValue(metricsBefore, 'messaging_replays_total{result="deferred"}');

  // The whole backlog becomes due at once: every record's due time (the sorted set the store keeps,
  // see outbox-store.ts) goes to 0 in one command. From here the clock runs.
  const dueKey = `${settings.names.redisKeyPrefix}:{outbox}:due`;
  const quietWaitMs = await untilMachineQuiet();
  const started = performance.now();
  const cpuStarted = producer.cpuMs();
  await env.redis.zunionstore(dueKey, 1, dueKey, 'WEIGHTS', 0);
  // A record is removed only after its confirm: an empty outbox means every confirm is in.
  while ((await store.counts()).pending > 0) await sleep(10);
  const ms = performance.now() - started;
  const cpuMs = producer.cpuMs() - cpuStarted;

  // The job counts a batch once its removal's answer is in, which can reach the producer after the
  // empty outbox was seen here: wait for the count instead of reading it once.
  const published = async () =>
    metricValue(await (await fetch(producer.app.url('/metrics'))).text(), 'messaging_replays_total{result="published"}');
  let after = await published();
  for (let tries = 0; after - before < count && tries < 100; tries++) {
    await sleep(20);
    after = await published();
  }
  const deferred =
    metricValue(await (await fetch(producer.app.url('/metrics'))).text(), 'messaging_replays_total{result="deferred"}') - deferredBefore;
  if (deferred > 0) process.stderr.write(`drain: ${deferred} replays deferred\n`);
  const ready = (await queueState(env, settings.names.queue))?.ready ?? 0;
  if (after - before < count || ready < count) {
    throw new Error(`drain: ${after - before} replays published and ${ready} messages in the queue, expected ${count}`);
  }
  return { ms, perSecond: (count / ms) * 1000, cpuUsPerMessage: (cpuMs * 1000) / count, quietWaitMs };
}

/**
 * Outbox drain: a backlog of 20,000 pending messages replayed by the producer's replay job (claims
 * with a lease, a sliding window of confirms, removals of what was confirmed, the next claim and the
 * removals made while confirms are in flight), against raw amqplib confirmed publishing of as many
 * messages of the same size, with the same window of confirms in flight.
 */
export async function outboxDrain(context: BenchContext): Promise<BenchSection> {
  const env = await createTestEnv('bench-drain');
  const memory: MemoryReading[] = [];
  const project: DrainRun[] = [];
  const bare: DrainRun[] = [];
  const queue = defaultSettings().names.queue;
  try {
    const producer = await startBenchApp(context, 'producer', env, 'drain', { OUTBOX_REPLAY_INTERVAL_MS: String(REPLAY_INTERVAL_MS) });
    // Warm-up: a small backlog through the same path on each side (the producer's replay path is
    // compiled by then, as in a producer that has been running; each baseline round is a fresh
    // process), and the baseline's queue declared.
    await rawPublish(env, { exchange: BASELINE_QUEUE, declareQueue: BASELINE_QUEUE, count: WARM_UP, window: WINDOW, type: 'bench.outbox' });
    await projectRound(env, producer, WARM_UP);
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? (['baseline', 'project'] as const) : (['project', 'baseline'] as const);
      for (const who of order) {
        await purgeQueues(env, queue, BASELINE_QUEUE);
        let run: DrainRun;
        if (who === 'project') {
          await producer.beginProfile();
          run = await projectRound(env, producer);
          await producer.endProfile();
        } else {
          const quietWaitMs = await untilMachineQuiet();
          const result = await rawPublish(env, { exchange: BASELINE_QUEUE, count: BACKLOG, window: WINDOW, type: 'bench.outbox' });
          const { cpuMs } = result as typeof result & { cpuMs: number };
          run = { ms: result.ms, perSecond: result.perSecond, cpuUsPerMessage: (cpuMs * 1000) / BACKLOG, quietWaitMs };
          if (round === ROUNDS)
            memory.push({
              process: 'baseline: raw confirmed publisher',
              when: 'outbox drain',
              rssBytes: result.rssBytes,
              peakRssBytes: result.peakRssBytes,
            });
        }
        (who === 'project' ? project : bare).push(run);
        context.log(
          `drain round ${round} ${who}: ${run.ms.toFixed(0)} ms (${run.perSecond.toFixed(0)} msg/s, ${run.cpuUsPerMessage.toFixed(0)} µs CPU/msg; ${run.quietWaitMs.toFixed(0)} ms waited for a quiet machine)`,
        );
      }
    }
    memory.unshift({ process: 'producer', when: 'outbox drain', ...producer.memory() });
    await producer.app.stop();
  } finally {
    await env.cleanup();
  }

  const projectMs = mean(project.map((run) => run.ms));
  const baselineMs = mean(bare.map((run) => run.ms));
  const ratios = project.map((run, i) => bare[i].ms / run.ms);
  return {
    title: 'Outbox drain: 20,000 pending messages',
    method:
      `${formatNumber(BACKLOG)} records are written to the outbox through the library's \`OutboxStore\` (as failed sends ` +
      'would be) while the producer runs, not yet due; then all become due in one Redis command and the clock runs until ' +
      `the outbox is empty (a record is removed only after its confirm). The replay job runs every ${REPLAY_INTERVAL_MS} ms ` +
      `(\`OUTBOX_REPLAY_INTERVAL_MS\`; the wait for its first tick is counted) and keeps at most ${WINDOW} confirms in ` +
      'flight (`OUTBOX_REPLAY_BATCH_SIZE` default), claiming the next messages and removing confirmed ones while they are ' +
      'in flight. Baseline: `bench/baselines/raw-publish.js`, raw amqplib confirmed publishing ' +
      `of as many messages of the same size (ready-made in memory) with at most ${WINDOW} confirms outstanding, from first ` +
      `publish to last confirm. Both go through a topic exchange to a quorum queue. After a warm-up of ` +
      `${formatNumber(WARM_UP)} messages through each side, ${ROUNDS} rounds per side, ` +
      'alternating order; the table shows the mean. Each side starts once the machine has been quiet (under a fifth of its ' +
      "CPU busy) for 250 ms, so that it does not inherit the broker's work after the other side's burst.",
    table: {
      header: ['', 'time to drain', 'messages/s', 'CPU per message'],
      rows: [
        ['project (replay job)', `${formatNumber(projectMs)} ms`, formatNumber((BACKLOG / projectMs) * 1000), cpuCell(project)],
        [
          'baseline (raw confirmed publishing)',
          `${formatNumber(baselineMs)} ms`,
          formatNumber((BACKLOG / baselineMs) * 1000),
          cpuCell(bare),
        ],
        ['**project / baseline** (rate, mean of the rounds)', formatTarget(mean(ratios), ratios, TARGET), '', ''],
      ],
    },
    rounds: {
      header: ['round', 'project', 'baseline', 'ratio', 'wait for a quiet machine: project, baseline'],
      rows: project.map((run, i) => [
        String(i + 1),
        `${formatNumber(run.ms)} ms`,
        `${formatNumber(bare[i].ms)} ms`,
        formatRatio(bare[i].ms / run.ms),
        `${formatNumber(run.quietWaitMs, 0)} ms, ${formatNumber(bare[i].quietWaitMs, 0)} ms`,
      ]),
    },
    notes: [
      'CPU per message: user + system time of the publishing process over the timed phase (the producer from /proc, the ' +
        'baseline from process.cpuUsage), divided by the messages: the steadier figure on a shared machine.',
      `Each project round checks that ${formatNumber(BACKLOG)} replays were counted as published and that the work queue holds them.`,
    ],
    memory,
  };
}
