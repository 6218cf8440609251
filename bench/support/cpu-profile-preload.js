'use strict';
/*
 * Preloaded (NODE_OPTIONS=-r ...) into an app when a benchmark runs with --profile. `node --cpu-prof`
 * is not allowed in NODE_OPTIONS, profiles start-up too, and writes its profile only on a normal exit,
 * which a Nest app ended by SIGTERM never makes. So this drives the V8 CPU profiler through the
 * inspector instead: the first SIGUSR2 starts it (after the warm-up), the second writes the profile to
 * $BENCH_CPU_PROFILE (a .cpuprofile file, readable by Chrome DevTools or bench/support/profile-summary.ts)
 * and prints `cpu profile written`.
 */
const { Session } = require('node:inspector');
const { writeFileSync } = require('node:fs');

const target = process.env.BENCH_CPU_PROFILE;
if (target) {
  const session = new Session();
  session.connect();
  let profiling = false;
  process.on('SIGUSR2', () => {
    if (!profiling) {
      profiling = true;
      session.post('Profiler.enable', () =>
        session.post('Profiler.setSamplingInterval', { interval: 100 }, () =>
          session.post('Profiler.start', () => process.stdout.write('cpu profile started\n')),
        ),
      );
      return;
    }
    profiling = false;
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(target, JSON.stringify(result.profile));
      process.stdout.write(error ? `cpu profile failed: ${error.message}\n` : 'cpu profile written\n');
    });
  });
}
