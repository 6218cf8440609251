import { freePort } from '../test/support/free-port';
import { createTestEnv } from '../test/support/test-env';
import { startBenchApp, type BenchContext } from './support/bench-app';
import { BASELINE_QUEUE, defaultSettings, purgeQueues } from './support/broker';
import { postLoad, type IngestRun } from './support/http-load';
import type { BenchSection } from './support/report';
import { startScript } from './support/script-process';
import { formatMs, formatNumber, formatRatio, median, sum } from './support/stats';

const CONNECTIONS = 100;
const WARMUP_SECONDS = 3;
const ROUND_SECONDS = 8;
const ROUNDS = 2;
const TARGET = 0.9;

interface Side {
  runs: IngestRun[];
}

function perSecond(side: Side, seconds: number): number {
  return sum(side.runs.map((run) => run.accepted)) / (side.runs.length * seconds);
}

function otherAnswers(side: Side): string {
  const counts: Record<string, number> = {};
  for (const run of side.runs) {
    for (const [status, count] of Object.entries(run.otherStatuses)) counts[status] = (counts[status] ?? 0) + count;
    if (run.errors > 0) counts['no answer'] = (counts['no answer'] ?? 0) + run.errors;
  }
  const entries = Object.entries(counts);
  return entries.length === 0 ? '0' : entries.map(([status, count]) => `${count} × ${status}`).join(', ');
}

/**
 * Producer ingest: POST /messages at 100 connections (autocannon) against a bare Fastify route that
 * publishes on an amqplib confirm channel to a quorum queue, in alternating rounds in one run.
 */
export async function producerIngest(context: BenchContext): Promise<BenchSection> {
  const env = await createTestEnv('bench-ingest');
  const baselinePort = await freePort();
  const baseline = startScript('fastify-publish.js', { AMQP_URL: env.amqpUrl, PORT: String(baselinePort), QUEUE: BASELINE_QUEUE });
  try {
    await baseline.printed('listening');
    const producer = await startBenchApp(context, 'producer', env, 'ingest');
    const baselineUrl = `http://127.0.0.1:${baselinePort}`;
    const projectUrl = producer.app.url('/');
    const purge = () => purgeQueues(env, BASELINE_QUEUE, defaultSettings().names.queue);

    context.log(`ingest: warm-up ${WARMUP_SECONDS} s each`);
    await postLoad(baselineUrl, CONNECTIONS, WARMUP_SECONDS);
    await postLoad(projectUrl, CONNECTIONS, WARMUP_SECONDS);
    await purge();

    const project: Side = { runs: [] };
    const bare: Side = { runs: [] };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate who goes first, so a drift in the machine's load does not favour one side.
      const order = round % 2 === 0 ? (['baseline', 'project'] as const) : (['project', 'baseline'] as const);
      for (const who of order) {
        if (who === 'project') await producer.beginProfile();
        const run = await postLoad(who === 'project' ? projectUrl : baselineUrl, CONNECTIONS, ROUND_SECONDS);
        if (who === 'project') await producer.endProfile();
        (who === 'project' ? project : bare).runs.push(run);
        context.log(
          `ingest round ${round + 1} ${who}: ${run.acceptedPerSecond.toFixed(0)} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms`,
        );
        await purge();
      }
    }

    const projectRate = perSecond(project, ROUND_SECONDS);
    const baselineRate = perSecond(bare, ROUND_SECONDS);
    const memory = [
      { process: 'producer', when: 'producer ingest', ...producer.memory() },
      { process: 'baseline: Fastify + amqplib', when: 'producer ingest', ...baseline.memory() },
    ];
    await producer.app.stop();
    return {
      title: 'Producer ingest: POST /messages',
      method:
        `autocannon, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_SECONDS} s per side after a ${WARMUP_SECONDS} s warm-up, ` +
        'alternating which side goes first. Baseline: `bench/baselines/fastify-publish.js`, a plain Fastify route ' +
        'publishing each message (same envelope and properties) on one amqplib confirm channel to a quorum queue ' +
        'and answering 202 after the confirm. The project: the built producer (`LOG_LEVEL=warn`, rate limit off), ' +
        'which answers 202 only after the broker confirm (or the outbox write). Queues are purged between rounds. ' +
        'req/s counts 202 answers only; latencies are the medians of the rounds.',
      table: {
        header: ['', 'req/s (202)', 'p50', 'p99', 'answers other than 202'],
        rows: [
          [
            'project (producer)',
            formatNumber(projectRate),
            formatMs(median(project.runs.map((r) => r.p50Ms))),
            formatMs(median(project.runs.map((r) => r.p99Ms))),
            otherAnswers(project),
          ],
          [
            'baseline (Fastify + amqplib)',
            formatNumber(baselineRate),
            formatMs(median(bare.runs.map((r) => r.p50Ms))),
            formatMs(median(bare.runs.map((r) => r.p99Ms))),
            otherAnswers(bare),
          ],
          ['**project / baseline**', formatRatio(projectRate / baselineRate, TARGET), '', '', ''],
        ],
      },
      rounds: {
        header: ['round', 'project req/s', 'project p50 / p99', 'baseline req/s', 'baseline p50 / p99', 'ratio'],
        rows: project.runs.map((run, i) => [
          String(i + 1),
          formatNumber(run.acceptedPerSecond),
          `${run.p50Ms} / ${run.p99Ms} ms`,
          formatNumber(bare.runs[i].acceptedPerSecond),
          `${bare.runs[i].p50Ms} / ${bare.runs[i].p99Ms} ms`,
          formatRatio(run.acceptedPerSecond / bare.runs[i].acceptedPerSecond),
        ]),
      },
      notes: [],
      memory,
    };
  } finally {
    await baseline.stop();
    await env.cleanup();
  }
}
