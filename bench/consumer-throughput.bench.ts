import { metricValue } from '../test/support/http';
import { createTestEnv, type TestEnv } from '../test/support/test-env';
import { waitFor } from '../test/support/wait-for';
import { startBenchApp, type BenchContext } from './support/bench-app';
import { BASELINE_QUEUE, declareProjectTopology, rawPublish } from './support/broker';
import type { BenchSection, MemoryReading } from './support/report';
import { startScript } from './support/script-process';
import { formatNumber, formatRatio, mean, sum } from './support/stats';

/** Deliveries handled before the clock starts (start-up, JIT warm-up), then the measured ones. */
const WARMUP = Number(process.env.BENCH_CONSUMER_WARMUP ?? 5_000);
const MEASURED = Number(process.env.BENCH_CONSUMER_MESSAGES ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Issue 12: the ratio is asked for at the default prefetch and at a deep one. */
const PREFETCHES = (process.env.BENCH_PREFETCH ?? '50,200').split(',').map(Number);
const TARGET = 0.8;

interface ConsumeRun {
  perSecond: number;
  ms: number;
  /** CPU time of the consuming process over the timed deliveries, ms. */
  cpuMs: number;
  /** The project: commits per Redis script, on average over the round (messaging_guard_commit_batch_size). */
  meanBatch?: number;
}

/** Milliseconds of a stream entry id (`<ms>-<seq>`). */
const entryMs = (id: string) => Number(id.split('-')[0]);

interface Rounds {
  prefetch: number;
  project: ConsumeRun[];
  bare: ConsumeRun[];
}

async function projectRound(
  context: BenchContext,
  env: TestEnv,
  prefetch: number,
  last: boolean,
  memory: MemoryReading[],
): Promise<ConsumeRun> {
  const settings = await declareProjectTopology(env);
  const stream = settings.names.processedStream;
  await env.redis.flushdb();
  const total = WARMUP + MEASURED;
  await rawPublish(env, { exchange: settings.names.exchange, count: total, type: 'bench.consume' });
  // The queue is full before the consumer starts: what is timed is consuming, not publishing.
  const consumer = await startBenchApp(context, 'consumer', env, 'consumer', { CONSUMER_PREFETCH: String(prefetch) });
  await consumer.beginProfile();
  // CPU is read when the warm-up is done and at the end (polled every 20 ms, so a few deliveries off).
  const cpu = { atWarmup: Number.NaN, processedAtWarmup: 0 };
  await waitFor(
    async () => {
      const processed = await env.redis.xlen(stream);
      if (Number.isNaN(cpu.atWarmup) && processed >= WARMUP)
        Object.assign(cpu, { atWarmup: consumer.cpuMs(), processedAtWarmup: processed });
      return processed >= total;
    },
    { timeoutMs: 180_000, intervalMs: 20, description: `${total} processed entries` },
  );
  const cpuMs = ((consumer.cpuMs() - cpu.atWarmup) * MEASURED) / (total - cpu.processedAtWarmup);
  await consumer.endProfile();
  const entries = await env.redis.xrange(stream, '-', '+', 'COUNT', total);
  const ms = entryMs(entries[total - 1][0]) - entryMs(entries[WARMUP - 1][0]);
  const metrics = await (await fetch(consumer.app.url('/metrics'))).text();
  const batches = metricValue(metrics, 'messaging_guard_commit_batch_size_count');
  const meanBatch = batches > 0 ? metricValue(metrics, 'messaging_guard_commit_batch_size_sum') / batches : Number.NaN;
  const processed = metricValue(metrics, 'messaging_consumed_total{result="processed"}');
  const other = ['duplicate', 'retried', 'dead_lettered'].map((result) =>
    metricValue(metrics, `messaging_consumed_total{result="${result}"}`),
  );
  if (processed !== total || other.some((count) => count > 0) || (await env.redis.xlen(stream)) !== total) {
    throw new Error(
      `consumer at prefetch ${prefetch}: expected ${total} processed and nothing else, metrics say ${processed} processed, ${other.join('/')}`,
    );
  }
  if (last) memory.push({ process: 'consumer', when: `consumer throughput, prefetch ${prefetch}`, ...consumer.memory() });
  await consumer.app.stop();
  return { perSecond: (MEASURED / ms) * 1000, ms, cpuMs, meanBatch };
}

async function baselineRound(env: TestEnv, prefetch: number, last: boolean, memory: MemoryReading[]): Promise<ConsumeRun> {
  await rawPublish(env, { exchange: BASELINE_QUEUE, declareQueue: BASELINE_QUEUE, count: WARMUP + MEASURED, type: 'bench.consume' });
  const script = startScript('raw-consume.js', {
    AMQP_URL: env.amqpUrl,
    QUEUE: BASELINE_QUEUE,
    PREFETCH: String(prefetch),
    WARMUP: String(WARMUP),
    COUNT: String(MEASURED),
  });
  const result = await script.result<ConsumeRun & { rssBytes: number; peakRssBytes: number }>();
  if (last)
    memory.push({
      process: 'baseline: raw amqplib consumer',
      when: `consumer throughput, prefetch ${prefetch}`,
      rssBytes: result.rssBytes,
      peakRssBytes: result.peakRssBytes,
    });
  return result;
}

/**
 * Consumer: a pre-filled quorum queue drained by the real consumer app (envelope parsing, the
 * idempotency guard and the reference effect: commits batched into one Lua script, each writing its
 * stream entry and done mark, then the coalesced acks) against raw amqplib consume + ack with the
 * same prefetch, at each prefetch of PREFETCHES, rounds alternating which side goes first.
 */
export async function consumerThroughput(context: BenchContext): Promise<BenchSection> {
  const env = await createTestEnv('bench-consumer');
  const memory: MemoryReading[] = [];
  const all: Rounds[] = PREFETCHES.map((prefetch) => ({ prefetch, project: [], bare: [] }));
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const { prefetch, project, bare } of all) {
        const order = round % 2 === 1 ? (['baseline', 'project'] as const) : (['project', 'baseline'] as const);
        for (const who of order) {
          const last = round === ROUNDS;
          const run =
            who === 'project' ? await projectRound(context, env, prefetch, last, memory) : await baselineRound(env, prefetch, last, memory);
          (who === 'project' ? project : bare).push(run);
          const cpu = ((run.cpuMs * 1000) / MEASURED).toFixed(0);
          context.log(`consumer prefetch ${prefetch} round ${round} ${who}: ${run.perSecond.toFixed(0)} msg/s, CPU ${cpu} µs/message`);
        }
        context.log(
          `consumer prefetch ${prefetch} round ${round} ratio: ${formatRatio(project[round - 1].perSecond / bare[round - 1].perSecond)}`,
        );
      }
    }
  } finally {
    await env.cleanup();
  }

  const cpuPerMessage = (runs: ConsumeRun[]) => (sum(runs.map((run) => run.cpuMs)) * 1000) / (runs.length * MEASURED);
  const rate = (runs: ConsumeRun[]) => mean(runs.map((run) => run.perSecond));
  return {
    title: 'Consumer throughput',
    method:
      `The queue is filled with ${formatNumber(WARMUP + MEASURED)} envelope messages first (raw confirmed publishing), then ` +
      `consumed with prefetch ${PREFETCHES.join(' and ')}; the first ${formatNumber(WARMUP)} deliveries are not timed (start-up, warm-up), ` +
      `the rate is taken over the next ${formatNumber(MEASURED)} (until 2026-12-03: 2,000 and 10,000, under half a second at ` +
      'prefetch 200, which timed mostly the JIT warming up and moments of the shared machine; the consumer CPU per message ' +
      'over 10,000 was 42 µs, over 50,000 it is about 30). The project: the built consumer app (golevelup handler, ' +
      'envelope validation, the idempotency guard in `atomic` mode running the reference effect, an XADD to ' +
      '`messaging:processed` together with its done mark; commits close together share one Lua script, and the acks of ' +
      'commits that returned together go in one `allUpTo` frame), timed by the stream entry ids. Baseline: ' +
      '`bench/baselines/raw-consume.js`, raw amqplib consume + ack of a quorum queue, nothing else. ' +
      `${ROUNDS} rounds per side and prefetch, alternating order; the table shows the mean. Consumer CPU per message: ` +
      'the CPU time of the consuming process over the timed deliveries (the project also spends Redis CPU, not counted here).',
    table: {
      header: ['', 'prefetch', 'messages/s', 'consumer CPU per message'],
      rows: all.flatMap(({ prefetch, project, bare }) => [
        [
          'project (consumer: guard + reference effect)',
          String(prefetch),
          formatNumber(rate(project)),
          `${formatNumber(cpuPerMessage(project), 0)} µs`,
        ],
        ['baseline (raw amqplib consume + ack)', String(prefetch), formatNumber(rate(bare)), `${formatNumber(cpuPerMessage(bare), 0)} µs`],
        ['**project / baseline**', String(prefetch), formatRatio(rate(project) / rate(bare), TARGET), ''],
      ]),
    },
    rounds: {
      header: ['prefetch', 'round', 'project msg/s', 'baseline msg/s', 'ratio', 'project: commits per Redis script (mean)'],
      rows: all.flatMap(({ prefetch, project, bare }) =>
        project.map((run, i) => [
          String(prefetch),
          String(i + 1),
          formatNumber(run.perSecond),
          formatNumber(bare[i].perSecond),
          formatRatio(run.perSecond / bare[i].perSecond),
          formatNumber(run.meanBatch ?? Number.NaN, 1),
        ]),
      ),
    },
    notes: [
      `Every round checks exactly once: ${formatNumber(WARMUP + MEASURED)} stream entries and as many \`processed\` deliveries, none duplicate, retried or dead-lettered.`,
    ],
    memory,
  };
}
