import { join, resolve } from 'node:path';
import { startApp, waitForReady, type AppKind, type AppProcess } from '../../test/support/app-process';
import { appEnv, type TestEnv } from '../../test/support/test-env';
import { profileControl, profilingEnv } from './cpu-profile';
import { cpuMsOf, memoryOf, type ProcessMemory } from './memory';

/** How a benchmark run was asked for (`npm run bench -- --profile`). */
export interface BenchContext {
  /** Write a CPU profile of each app over its measured phase to `profileDir`. */
  profile: boolean;
  profileDir: string;
  log: (line: string) => void;
}

export const PROFILE_DIR = resolve(__dirname, '..', '.profiles');

/**
 * The settings every benchmark starts the apps with, on top of appEnv (the suite's vhost and database,
 * LOG_LEVEL=warn, so no log line is written per message). RATE_LIMIT_PER_MINUTE=0 is the default and
 * turns the throttler off: a benchmark must measure the work, not 429s (they are counted anyway).
 */
export const BENCH_APP_SETTINGS: Record<string, string> = { LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' };

export interface BenchApp {
  app: AppProcess;
  /** Starts the CPU profile (with --profile; otherwise nothing). */
  beginProfile: () => Promise<void>;
  /** Ends it and returns the .cpuprofile path (undefined without --profile). */
  endProfile: () => Promise<string | undefined>;
  memory: () => ProcessMemory | undefined;
  /** CPU time used so far, ms (see cpuMsOf). */
  cpuMs: () => number;
}

/** Starts a built app in the suite's environment and waits until it is ready (every dependency up). */
export async function startBenchApp(
  context: BenchContext,
  kind: AppKind,
  env: TestEnv,
  name: string,
  settings: Record<string, string> = {},
): Promise<BenchApp> {
  const profileFile = context.profile ? join(context.profileDir, `${name}-${kind}.cpuprofile`) : undefined;
  const app = await startApp(kind, { ...appEnv(env), ...BENCH_APP_SETTINGS, ...settings, ...profilingEnv(profileFile) });
  await waitForReady(app, 30_000);
  const profile = profileControl(app.pid, app.output, profileFile);
  return {
    app,
    beginProfile: profile.begin,
    endProfile: profile.end,
    memory: () => memoryOf(app.pid),
    cpuMs: () => cpuMsOf(app.pid),
  };
}
