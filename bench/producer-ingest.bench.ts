import { join } from 'node:path';
import { freePort } from '../test/support/free-port';
import { createTestEnv } from '../test/support/test-env';
import { startBenchApp, type BenchContext } from './support/bench-app';
import { BASELINE_QUEUE, defaultSettings, projectQueueArguments, purgeQueues } from './support/broker';
import type { ProfileControl } from './support/cpu-profile';
import { postLoad, type IngestRun } from './support/http-load';
import type { ProcessMemory } from './support/memory';
import { profileDiff } from './support/profile-diff';
import { renderTable, type BenchSection, type MemoryReading } from './support/report';
import { startScript, type ScriptProcess } from './support/script-process';
import { formatMs, formatNumber, formatRatio, formatTarget, mean, sum } from './support/stats';

const CONNECTIONS = 100;
const WARMUP_SECONDS = 3;
const ROUND_SECONDS = 8;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET = 0.9;
/** Server CPU per request, project / bare route: at most this. */
const CPU_TARGET = 1.15;
/** Producer RSS after the benchmark, project / bare route: at most this. */
const RSS_TARGET = 1.5;

interface Round extends IngestRun {
  /** CPU time the server process used during the round, ms. */
  serverCpuMs: number;
}

/** One server under load: the project's producer or a baseline. */
interface Side {
  label: string;
  url: string;
  cpuMs: () => number;
  memory: () => ProcessMemory | undefined;
  profile: ProfileControl;
  runs: Round[];
}

function perSecond(side: Side): number {
  return sum(side.runs.map((run) => run.accepted)) / (side.runs.length * ROUND_SECONDS);
}

/** Server CPU time per accepted request, µs: less disturbed by other load on the machine than req/s. */
function cpuPerRequest(side: Side): number {
  return (sum(side.runs.map((run) => run.serverCpuMs)) * 1000) / sum(side.runs.map((run) => run.accepted));
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

async function startBaseline(
  context: BenchContext,
  script: string,
  name: string,
  amqpUrl: string,
): Promise<{ port: number; script: ScriptProcess }> {
  const port = await freePort();
  const profile = context.profile ? join(context.profileDir, `ingest-${name}.cpuprofile`) : undefined;
  const process = startScript(
    script,
    { AMQP_URL: amqpUrl, PORT: String(port), QUEUE: BASELINE_QUEUE, QUEUE_ARGUMENTS: projectQueueArguments() },
    profile,
  );
  await process.printed('listening');
  return { port, script: process };
}

/**
 * With --profile: where the producer's CPU per request goes beyond the Nest floor's and the bare
 * route's, by package and by function (each profile covers its side's last round).
 */
function printProfileDiff(context: BenchContext, sides: Side[]): void {
  const names = ['producer', 'nest', 'bare'];
  const { places, functions } = profileDiff(
    sides.map((side, i) => ({
      label: names[i],
      file: join(context.profileDir, `ingest-${names[i]}.cpuprofile`),
      units: side.runs[side.runs.length - 1].accepted,
    })),
  );
  process.stdout.write(`\nCPU per request under the profiler, last round:\n${renderTable(places)}\n\n${renderTable(functions)}\n`);
}

function roundCpu(run: Round): number {
  return (run.serverCpuMs * 1000) / run.accepted;
}

function row(side: Side): string[] {
  return [
    side.label,
    formatNumber(perSecond(side)),
    formatMs(mean(side.runs.map((r) => r.p50Ms))),
    formatMs(mean(side.runs.map((r) => r.p99Ms))),
    `${formatNumber(cpuPerRequest(side), 0)} µs`,
    otherAnswers(side),
  ];
}

/**
 * Producer ingest: POST /messages at 100 connections (autocannon) against a bare Fastify route that
 * publishes on an amqplib confirm channel to a quorum queue, and against the same work in the
 * smallest Nest app (Nest's own floor), in rotating order, in one run.
 */
export async function producerIngest(context: BenchContext): Promise<BenchSection> {
  const env = await createTestEnv('bench-ingest');
  const scripts: ScriptProcess[] = [];
  try {
    const bare = await startBaseline(context, 'fastify-publish.js', 'bare', env.amqpUrl);
    scripts.push(bare.script);
    const nest = await startBaseline(context, 'nest-publish.js', 'nest', env.amqpUrl);
    scripts.push(nest.script);
    const producer = await startBenchApp(context, 'producer', env, 'ingest');
    const baselineSide = (label: string, started: { port: number; script: ScriptProcess }): Side => ({
      label,
      url: `http://127.0.0.1:${started.port}`,
      cpuMs: started.script.cpuMs,
      memory: started.script.memory,
      profile: started.script.profile,
      runs: [],
    });
    const project: Side = {
      label: 'project (producer)',
      url: producer.app.url('/'),
      cpuMs: producer.cpuMs,
      memory: producer.memory,
      profile: { begin: producer.beginProfile, end: producer.endProfile },
      runs: [],
    };
    const floor = baselineSide('Nest floor (`nest-publish.js`)', nest);
    const baseline = baselineSide('baseline (`fastify-publish.js`)', bare);
    const sides = [baseline, project, floor];
    const purge = () => purgeQueues(env, BASELINE_QUEUE, defaultSettings().names.queue);

    context.log(`ingest: warm-up ${WARMUP_SECONDS} s each`);
    for (const side of sides) await postLoad(side.url, CONNECTIONS, WARMUP_SECONDS);
    await purge();

    for (let round = 0; round < ROUNDS; round++) {
      // Rotate who goes first, so a drift in the machine's load does not favour one side.
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        await side.profile.begin();
        const cpuBefore = side.cpuMs();
        const load = await postLoad(side.url, CONNECTIONS, ROUND_SECONDS);
        const run: Round = { ...load, serverCpuMs: side.cpuMs() - cpuBefore };
        await side.profile.end();
        side.runs.push(run);
        context.log(
          `ingest round ${round + 1} ${side.label}: ${run.acceptedPerSecond.toFixed(0)} req/s, p50 ${run.p50Ms} ms, ` +
            `p99 ${run.p99Ms} ms, server CPU ${((run.serverCpuMs * 1000) / run.accepted).toFixed(0)} µs/request`,
        );
        await purge();
      }
    }

    if (context.profile) printProfileDiff(context, [project, floor, baseline]);
    const rateRatios = project.runs.map((run, i) => run.acceptedPerSecond / baseline.runs[i].acceptedPerSecond);
    const cpuRatios = project.runs.map((run, i) => roundCpu(run) / roundCpu(baseline.runs[i]));
    // Read once, before the producer stops: a reading after it is gone would be empty.
    const producerMemory = producer.memory();
    const baselineMemory = baseline.memory();
    const producerRss = producerMemory?.rssBytes ?? Number.NaN;
    const baselineRss = baselineMemory?.rssBytes ?? Number.NaN;
    const rssRatio = producerRss / baselineRss;
    const memory: MemoryReading[] = [
      { process: 'producer', when: 'producer ingest', ...producerMemory },
      { process: 'baseline: Fastify + amqplib', when: 'producer ingest', ...baselineMemory },
      { process: 'Nest floor: Nest + amqplib', when: 'producer ingest', ...floor.memory() },
    ];
    await producer.app.stop();
    return {
      title: 'Producer ingest: POST /messages',
      method:
        `autocannon, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_SECONDS} s per server after a ${WARMUP_SECONDS} s ` +
        'warm-up, the order reversed every round. Baseline: `bench/baselines/fastify-publish.js`, a plain Fastify route ' +
        'publishing each message (same envelope and properties) on one amqplib confirm channel to a quorum queue and ' +
        'answering 202 after the confirm. Nest floor: `bench/baselines/nest-publish.js`, the same work in the smallest ' +
        'NestJS 11 app on the same Fastify adapter (one controller, no guards, logger, headers, metrics or outbox): what ' +
        "Nest's routing costs by itself. The project: the built producer (`LOG_LEVEL=warn`, rate limit off, no API keys), " +
        'which answers 202 only after the broker confirm (or the outbox write). Queues are purged between rounds. ' +
        "Both baselines declare their queue with the project's work-queue arguments (quorum, `x-overflow`, dead-lettering, " +
        "delivery limit) behind a topic exchange, and publish mandatory, persistent messages with the project's properties. " +
        'req/s counts 202 answers only; latencies are the means of the rounds. Server CPU per request is the CPU time ' +
        'the server process used during its rounds (/proc) divided by its 202 answers: what the ratio comes from, and ' +
        'much less disturbed by other load on the machine than req/s.',
      table: {
        header: ['', 'req/s (202)', 'p50', 'p99', 'server CPU per request', 'answers other than 202'],
        rows: [
          row(project),
          row(floor),
          row(baseline),
          [
            '**project / baseline**',
            formatTarget(mean(rateRatios), rateRatios, TARGET),
            '',
            '',
            formatTarget(mean(cpuRatios), cpuRatios, CPU_TARGET, true),
            '',
          ],
          [
            'Nest floor / baseline',
            formatRatio(perSecond(floor) / perSecond(baseline)),
            '',
            '',
            formatRatio(cpuPerRequest(floor) / cpuPerRequest(baseline)),
            '',
          ],
          [
            'project / Nest floor',
            formatRatio(perSecond(project) / perSecond(floor)),
            '',
            '',
            formatRatio(cpuPerRequest(project) / cpuPerRequest(floor)),
            '',
          ],
        ],
      },
      rounds: {
        header: [
          'round',
          ...sides.map((side) => `${side.label} req/s`),
          'project / baseline',
          'server CPU per request: project, baseline',
          'CPU project / baseline',
        ],
        rows: project.runs.map((run, i) => [
          String(i + 1),
          ...sides.map((side) => formatNumber(side.runs[i].acceptedPerSecond)),
          formatRatio(rateRatios[i]),
          `${formatNumber(roundCpu(run), 0)} µs, ${formatNumber(roundCpu(baseline.runs[i]), 0)} µs`,
          formatRatio(cpuRatios[i]),
        ]),
      },
      notes: [
        "The targets are the means of the rounds' ratios (req/s and server CPU per request, project / baseline), with no " +
          'round more than 0.05 on the wrong side.',
        `Producer RSS after the benchmark / the bare route's: ${formatTarget(rssRatio, [], RSS_TARGET, true)} ` +
          `(${formatNumber(producerRss / 1048576, 0)} MiB and ${formatNumber(baselineRss / 1048576, 0)} MiB; see Memory).`,
      ],
      memory,
    };
  } finally {
    for (const script of scripts) await script.stop();
    await env.cleanup();
  }
}
