/**
 * `npm run bench`: builds, runs every benchmark against the RabbitMQ and Redis that RABBITMQ_URL /
 * REDIS_URL name (each in its own vhost and Redis database, see test/support), and writes BENCHMARKS.md.
 *
 *   npm run bench                          all benchmarks, then BENCHMARKS.md
 *   npm run bench -- --only=ingest,drain   some of them (ingest, consumer, e2e, drain, sustained, tracing); prints, writes nothing
 *   npm run bench -- --profile             also writes a CPU profile of each app over its measured phase
 *                                          to bench/.profiles/ and prints where the time went; writes nothing
 */
import { resolve } from 'node:path';
import { stopAll } from '../test/support/app-process';
import { createTestEnv } from '../test/support/test-env';
import { consumerThroughput } from './consumer-throughput.bench';
import { e2eLatency } from './e2e-latency.bench';
import { outboxDrain } from './outbox-drain.bench';
import { producerIngest } from './producer-ingest.bench';
import { sustainedLoad } from './sustained-load.bench';
import { tracingOverhead } from './tracing-overhead.bench';
import { PROFILE_DIR, type BenchContext } from './support/bench-app';
import { describeMachine } from './support/machine';
import { summarizeProfile } from './support/profile-summary';
import { renderTable, writeReport, type BenchSection } from './support/report';
import { readdirSync } from 'node:fs';

const ROOT = resolve(__dirname, '..');
const BENCHMARKS: Record<string, (context: BenchContext) => Promise<BenchSection>> = {
  ingest: producerIngest,
  consumer: consumerThroughput,
  e2e: e2eLatency,
  drain: outboxDrain,
  sustained: sustainedLoad,
  tracing: tracingOverhead,
};

function printProfiles(): void {
  for (const file of readdirSync(PROFILE_DIR).filter((name) => name.endsWith('.cpuprofile'))) {
    const summary = summarizeProfile(resolve(PROFILE_DIR, file), 15);
    process.stdout.write(`\n## ${file}\n`);
    for (const [title, spots] of [
      ['self time by place', summary.places],
      ['self time by function', summary.functions],
    ] as const) {
      process.stdout.write(`${title}:\n`);
      for (const spot of spots) process.stdout.write(`  ${(spot.share * 100).toFixed(1).padStart(5)}%  ${spot.name}\n`);
    }
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = args
    .find((arg) => arg.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',');
  const context: BenchContext = {
    profile: args.includes('--profile'),
    profileDir: PROFILE_DIR,
    log: (line) => process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`),
  };
  const chosen = Object.entries(BENCHMARKS).filter(([name]) => !only || only.includes(name));
  if (chosen.length === 0) throw new Error(`--only names none of: ${Object.keys(BENCHMARKS).join(', ')}`);

  const started = Date.now();
  const probe = await createTestEnv('bench-machine');
  const machine = await describeMachine(probe.redis).finally(() => probe.cleanup());
  const sections: BenchSection[] = [];
  for (const [name, bench] of chosen) {
    context.log(`${name}: start`);
    const section = await bench(context);
    sections.push(section);
    const rounds = section.rounds ? `\n${renderTable(section.rounds)}\n` : '';
    const notes = section.notes.map((note) => `- ${note}\n`).join('');
    process.stdout.write(`\n${section.title}\n${renderTable(section.table)}\n${rounds}${notes}\n`);
  }
  const took = `${Math.round((Date.now() - started) / 1000)} s`;

  if (context.profile) printProfiles();
  if (only || context.profile) {
    context.log(`done in ${took}; BENCHMARKS.md is written only by a full run without --profile`);
    return;
  }
  writeReport(resolve(ROOT, 'BENCHMARKS.md'), machine, sections, resolve(__dirname, 'findings.md'), `benchmarks took ${took}`);
  context.log(`done in ${took}; wrote BENCHMARKS.md`);
}

main()
  .catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAll())
  .finally(() => process.exit());
