import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { stopAll } from '../support/app-process';
import { redisModeFromEnv } from '../ha/ha-deployment';
import { formatHaReport, haViolations } from '../ha/ha-report';
import { runHa } from '../ha/ha-run';
import { formatReport, runChaos, violations } from './chaos-run';

/**
 * The long chaos run: `npm run chaos -- --duration 300 [--seed N] [--rate 40] [--producers 2] [--consumers 2]`.
 * With `--ha`, the HA run instead (test/ha/): a 3-node RabbitMQ cluster and Redis under Sentinels,
 * crashed node by node (HA_REDIS_MODE=direct for builds without Sentinel support).
 * Exits 1 when any invariant is violated, printing the ids, the fault timeline and the seed to replay.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '300' },
      seed: { type: 'string' },
      rate: { type: 'string', default: '40' },
      producers: { type: 'string', default: '2' },
      consumers: { type: 'string', default: '2' },
      ha: { type: 'boolean', default: false },
    },
  });
  const options = {
    seed: values.seed === undefined ? randomInt(1, 2 ** 31) : positive('seed', values.seed),
    durationMs: positive('duration', values.duration) * 1000,
    ratePerSecond: positive('rate', values.rate),
    producers: positive('producers', values.producers),
    consumers: positive('consumers', values.consumers),
    drainTimeoutMs: 180_000,
    log: (line: string) => process.stdout.write(`${line}\n`),
  };
  if (values.ha) {
    const haReport = await runHa({ ...options, redisMode: redisModeFromEnv() });
    process.stdout.write(formatHaReport(haReport));
    return haViolations(haReport).length === 0 ? 0 : 1;
  }
  const report = await runChaos(options);
  process.stdout.write(formatReport(report));
  return violations(report).length === 0 ? 0 : 1;
}

function positive(name: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new Error(`--${name} must be a whole number of at least 1, not ${value}`);
  return number;
}

main()
  .then(async (code) => {
    await stopAll();
    process.exit(code);
  })
  .catch(async (error: Error) => {
    process.stderr.write(`chaos run failed: ${error.stack ?? error.message}\n`);
    await stopAll();
    process.exit(2);
  });
