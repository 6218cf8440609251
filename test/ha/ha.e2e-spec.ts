import { randomInt } from 'node:crypto';
import { stopAll } from '../support/app-process';
import { redisModeFromEnv } from './ha-deployment';
import { formatHaReport, haViolations } from './ha-report';
import { runHa } from './ha-run';
import { HA_FAULT_KINDS, haFaultSchedule } from './ha-schedule';

/**
 * The short HA run of `npm test` (the long one: `npm run chaos -- --ha --duration 300`): two producers
 * and two consumers on a 3-node RabbitMQ cluster and a Redis primary + replica under three Sentinels
 * (REDIS_MIN_REPLICA_ACKS=1), all of the suite's own. HA_SEED replays a run, HA_DURATION_S lengthens
 * it, HA_REDIS_MODE=direct points the apps at the primary instead of the Sentinels.
 */
const seed = Number(process.env.HA_SEED ?? randomInt(1, 2 ** 31));
const durationMs = Number(process.env.HA_DURATION_S ?? 45) * 1000;
const scheduleOptions = { seed, durationMs, producers: 2, consumers: 2 };

describe('ha', () => {
  afterAll(() => stopAll());

  it('derives the same fault schedule from the same seed, with every kind of fault', () => {
    const schedule = haFaultSchedule(scheduleOptions);
    expect(haFaultSchedule(scheduleOptions)).toEqual(schedule);
    expect(haFaultSchedule({ ...scheduleOptions, seed: seed + 1 })).not.toEqual(schedule);
    for (const kind of HA_FAULT_KINDS) expect(schedule.some((event) => event.kind === kind)).toBe(true);
    expect(schedule.every((event) => event.atMs < durationMs)).toBe(true);
  });

  it(
    'processes every accepted message exactly once, dead-letters and parks nothing, keeps every queue on every node and serves again within seconds through SIGKILLs of the work queue leader, another RabbitMQ node, the Redis primary and an app of each kind',
    async () => {
      const report = await runHa({
        ...scheduleOptions,
        ratePerSecond: 40,
        drainTimeoutMs: 60_000,
        redisMode: redisModeFromEnv(),
        log: (line) => process.stdout.write(`${line}\n`),
      });
      process.stdout.write(formatHaReport(report));

      expect(haViolations(report)).toEqual([]);
      expect(report.accepted).toBeGreaterThan(0);
      // The run proves something only if every kind of crash happened under load.
      for (const kind of HA_FAULT_KINDS)
        expect(report.failovers.filter((failover) => failover.kind === kind).length).toBeGreaterThanOrEqual(1);
    },
    durationMs + 300_000,
  );
});
