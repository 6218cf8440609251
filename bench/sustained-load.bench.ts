import { queueState } from '../test/support/queue-state';
import { createTestEnv, type TestEnv } from '../test/support/test-env';
import { waitFor } from '../test/support/wait-for';
import { backlogTrend, sampleBacklog, type BacklogTrend } from './support/backlog-trend';
import { startBenchApp, type BenchContext } from './support/bench-app';
import { defaultSettings } from './support/broker';
import { postLoad } from './support/http-load';
import { sendOpenLoop, type OpenLoopSend } from './support/open-loop';
import type { BenchSection } from './support/report';
import { formatMs, formatNumber, percentile } from './support/stats';

const CONNECTIONS = 100;
const WARMUP_SECONDS = 3;
const MAXIMUM_SECONDS = 8;
const LOAD_SHARE = 0.8;
const SUSTAINED_SECONDS = Number(process.env.BENCH_SUSTAINED_SECONDS ?? 60);
const SAMPLE_MS = 1000;
/** A backlog may build at most this many seconds of the offered load over the run and still count as flat. */
const ALLOWED_GROWTH_SECONDS = 1;
const XRANGE_CHUNK = 10_000;
/** How long the messages accepted in a phase may take to be processed after it. */
const SETTLE_TIMEOUT_MS = 120_000;

/** When each message id got its entry in `messaging:processed` (the entry id is the Redis clock, ms). */
async function processedTimes(env: TestEnv, stream: string): Promise<Map<string, number>> {
  const processedAt = new Map<string, number>();
  let start = '-';
  for (;;) {
    const entries = await env.redis.xrange(stream, start, '+', 'COUNT', XRANGE_CHUNK);
    for (const [entryId, fields] of entries) {
      const idIndex = fields.indexOf('id');
      if (idIndex >= 0) processedAt.set(fields[idIndex + 1], Number(entryId.split('-')[0]));
    }
    if (entries.length < XRANGE_CHUNK) return processedAt;
    start = `(${entries[entries.length - 1][0]}`;
  }
}

function trendRow(label: string, trend: BacklogTrend, allowed: number): string[] {
  return [
    label,
    formatNumber(trend.max, 0),
    formatNumber(trend.last, 0),
    `${trend.growth >= 0 ? '+' : ''}${formatNumber(trend.growth, 0)}`,
    `${trend.flat ? '**flat**' : '**grows**'} (at most +${formatNumber(allowed, 0)})`,
  ];
}

/**
 * Sustained load: the producer's maximum ingest with the consumer running (closed loop, as the ingest
 * benchmark measures it), then an open loop at 80 % of it for 60 s through producer, broker and
 * consumer. Reports POST → processed entry latency and whether the backlogs (work queue, outbox)
 * stayed flat: a rate that builds a backlog is not one the system sustains.
 */
export async function sustainedLoad(context: BenchContext): Promise<BenchSection> {
  const env = await createTestEnv('bench-sustained');
  const settings = defaultSettings();
  const stream = settings.names.processedStream;
  const dueKey = `${settings.names.redisKeyPrefix}:{outbox}:due`;
  try {
    const consumer = await startBenchApp(context, 'consumer', env, 'sustained');
    const producer = await startBenchApp(context, 'producer', env, 'sustained');
    const base = producer.app.url('/');
    // A system that falls behind is a result, not a failure of the benchmark: wait a bounded time, then report.
    const settled = (expected: number, what: string) =>
      waitFor(async () => (await env.redis.xlen(stream)) >= expected, { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 200, description: what })
        .then(() => true)
        .catch(() => false);

    context.log(`sustained: maximum with the consumer running (${WARMUP_SECONDS} s warm-up, ${MAXIMUM_SECONDS} s)`);
    const warmup = await postLoad(base, CONNECTIONS, WARMUP_SECONDS);
    const maximum = await postLoad(base, CONNECTIONS, MAXIMUM_SECONDS);
    const caughtUp = await settled(warmup.accepted + maximum.accepted, 'the closed-loop messages processed');
    const before = await env.redis.xlen(stream);
    const rate = Math.round(maximum.acceptedPerSecond * LOAD_SHARE);
    const allowed = rate * ALLOWED_GROWTH_SECONDS;

    context.log(`sustained: ${rate}/s open loop for ${SUSTAINED_SECONDS} s (maximum ${maximum.acceptedPerSecond.toFixed(0)}/s)`);
    await producer.beginProfile();
    await consumer.beginProfile();
    const queueDepth = sampleBacklog(async () => (await queueState(env, settings.names.queue))?.ready ?? 0, SAMPLE_MS);
    const outbox = sampleBacklog(() => env.redis.zcard(dueKey), SAMPLE_MS);
    const sends = await sendOpenLoop(base, rate, SUSTAINED_SECONDS);
    await queueDepth.stop();
    await outbox.stop();
    const accepted = sends.filter((s): s is OpenLoopSend & { id: string } => s.status === 202 && s.id !== undefined);
    const allProcessed = await settled(before + accepted.length, `${accepted.length} open-loop messages processed`);
    await producer.endProfile();
    await consumer.endProfile();

    const processedAt = await processedTimes(env, stream);
    const endToEnd = accepted.map((s) => (processedAt.get(s.id) ?? Number.NaN) - s.dueAt).filter(Number.isFinite);
    const answered = accepted.map((s) => s.answeredAt - s.dueAt);
    const lastAnswer = sends.reduce((latest, s) => Math.max(latest, s.answeredAt), 0);
    const achieved = (accepted.length / (lastAnswer - sends[0].dueAt)) * 1000;
    const queueTrend = backlogTrend(queueDepth.samples, allowed);
    const outboxTrend = backlogTrend(outbox.samples, allowed);
    const others = sends.length - accepted.length;
    const memory = [
      { process: 'producer', when: 'sustained load', ...producer.memory() },
      { process: 'consumer', when: 'sustained load', ...consumer.memory() },
    ];
    context.log(
      `sustained: ${achieved.toFixed(0)}/s accepted, e2e p50 ${percentile(endToEnd, 50)} ms p99 ${percentile(endToEnd, 99)} ms, ` +
        `queue growth ${queueTrend.growth.toFixed(0)} (max ${queueTrend.max}), outbox growth ${outboxTrend.growth.toFixed(0)}`,
    );
    await producer.app.stop();
    await consumer.app.stop();

    const latency = (label: string, values: number[]) => [
      label,
      formatMs(percentile(values, 50)),
      formatMs(percentile(values, 90)),
      formatMs(percentile(values, 99)),
      formatMs(percentile(values, 100)),
      formatNumber(values.length, 0),
    ];
    return {
      title: 'Sustained load: 80 % of the maximum for 60 s',
      method:
        `First the producer's maximum with the consumer running: autocannon, ${CONNECTIONS} connections, ${MAXIMUM_SECONDS} s ` +
        `after a ${WARMUP_SECONDS} s warm-up (closed loop, as in the ingest benchmark), and its messages processed. Then POST ` +
        `/messages open loop at ${LOAD_SHARE * 100} % of that rate for ${SUSTAINED_SECONDS} s: request i is due at start + i / rate ` +
        'whether or not earlier ones were answered, on up to 256 keep-alive connections, and its latency counts from when it ' +
        'was due (a late send counts against the system). End-to-end: to the entry in `messaging:processed` (the Redis clock, ' +
        'same host). Every second the work queue (messages ready) and the outbox (records due or leased) are read; a backlog is ' +
        `flat when its least-squares trend over the run builds at most ${ALLOWED_GROWTH_SECONDS} s of the offered load. ` +
        'Throughput that builds a backlog is not sustainable, whatever its latency so far. One producer, one consumer ' +
        '(defaults, `LOG_LEVEL=warn`), one round.',
      table: {
        header: ['', 'p50', 'p90', 'p99', 'max', 'messages'],
        rows: [latency('POST → processed entry', endToEnd), latency('POST → 202', answered)],
      },
      roundsTitle: 'Backlogs, read every second during the open loop:',
      rounds: {
        header: ['backlog', 'highest reading', 'last reading', 'trend over the run', 'verdict'],
        rows: [trendRow('work queue (ready)', queueTrend, allowed), trendRow('outbox', outboxTrend, allowed)],
      },
      notes: [
        `Maximum (closed loop, consumer running): ${formatNumber(maximum.acceptedPerSecond, 0)} req/s; offered: ` +
          `${formatNumber(rate, 0)}/s; accepted: ${formatNumber(achieved, 0)}/s over the run.`,
        `Answers other than 202: ${others}. Accepted messages without a processed entry: ${accepted.length - endToEnd.length}` +
          (allProcessed ? '.' : ` (not all processed within ${SETTLE_TIMEOUT_MS / 1000} s after the run).`),
        ...(caughtUp
          ? []
          : [`The closed-loop backlog was not processed within ${SETTLE_TIMEOUT_MS / 1000} s: the open loop began behind.`]),
      ],
      memory,
    };
  } finally {
    await env.cleanup();
  }
}
