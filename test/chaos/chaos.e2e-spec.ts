import { randomInt } from 'node:crypto';
import { stopAll } from '../support/app-process';
import { formatReport, runChaos, violations } from './chaos-run';
import { FAULT_KINDS, faultSchedule } from './chaos-schedule';

/**
 * The short chaos run of `npm test` (the long one: `npm run chaos -- --duration 300`). Invariant, over
 * every message of the run: an accepted message (202) has exactly one effect in messaging:processed,
 * nothing has two, nothing appears that no client sent, nothing is dead-lettered or parked.
 * CHAOS_SEED replays a run; CHAOS_DURATION_S lengthens it.
 */
const seed = Number(process.env.CHAOS_SEED ?? randomInt(1, 2 ** 31));
const durationMs = Number(process.env.CHAOS_DURATION_S ?? 40) * 1000;

describe('chaos', () => {
  afterAll(() => stopAll());

  it('derives the same fault schedule from the same seed, with every kind of fault several times', () => {
    const options = { seed, durationMs, producers: 2, consumers: 2 };
    const schedule = faultSchedule(options);
    expect(faultSchedule(options)).toEqual(schedule);
    expect(faultSchedule({ ...options, seed: seed + 1 })).not.toEqual(schedule);
    for (const kind of FAULT_KINDS) expect(schedule.filter((event) => event.kind === kind).length).toBeGreaterThanOrEqual(2);
    expect(schedule.every((event) => event.atMs + event.durationMs < durationMs)).toBe(true);
  });

  it(
    'processes every accepted message exactly once through cut, refused and stalled links, memory alarms, Redis refusing writes and SIGKILLed apps',
    async () => {
      const report = await runChaos({
        seed,
        durationMs,
        ratePerSecond: 40,
        producers: 2,
        consumers: 2,
        drainTimeoutMs: 90_000,
        log: (line) => process.stdout.write(`${line}\n`),
      });
      process.stdout.write(formatReport(report));

      expect(violations(report)).toEqual([]);
      expect(report.accepted).toBeGreaterThan(0);
      // The run proves something only if the faults happened and the outbox path was taken.
      for (const kind of FAULT_KINDS) expect(report.injected[kind]).toBeGreaterThanOrEqual(1);
      expect(report.recoveredAfterReplay).toBeGreaterThan(0);
    },
    durationMs + 240_000,
  );
});
