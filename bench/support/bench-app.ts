import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startApp, waitForReady, type AppKind, type AppProcess } from '../../test/support/app-process';
import { appEnv, type TestEnv } from '../../test/support/test-env';
import { waitFor } from '../../test/support/wait-for';
import { memoryOf, type ProcessMemory } from './memory';

/** How a benchmark run was asked for (`npm run bench -- --profile`). */
export interface BenchContext {
  /** Write a CPU profile of each app over its measured phase to `profileDir`. */
  profile: boolean;
  profileDir: string;
  log: (line: string) => void;
}

export const PROFILE_DIR = resolve(__dirname, '..', '.profiles');
const PRELOAD = join(__dirname, 'cpu-profile-preload.js');

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
}

/** Starts a built app in the suite's environment and waits until it is ready (every dependency up). */
export async function startBenchApp(
  context: BenchContext,
  kind: AppKind,
  env: TestEnv,
  name: string,
  settings: Record<string, string> = {},
): Promise<BenchApp> {
  const profileFile = join(context.profileDir, `${name}-${kind}.cpuprofile`);
  const profiling: Record<string, string> = context.profile ? { NODE_OPTIONS: `-r ${PRELOAD}`, BENCH_CPU_PROFILE: profileFile } : {};
  if (context.profile) mkdirSync(context.profileDir, { recursive: true });
  const app = await startApp(kind, { ...appEnv(env), ...BENCH_APP_SETTINGS, ...settings, ...profiling });
  await waitForReady(app, 30_000);
  const signalled = async (answer: string) => {
    const seen = app.output().split(answer).length - 1;
    process.kill(app.pid, 'SIGUSR2');
    await waitFor(() => Promise.resolve(app.output().split(answer).length - 1 > seen), {
      timeoutMs: 30_000,
      description: `${kind}: ${answer}`,
    });
  };
  return {
    app,
    beginProfile: async () => {
      if (context.profile) await signalled('cpu profile started');
    },
    endProfile: async () => {
      if (!context.profile) return undefined;
      await signalled('cpu profile written');
      return profileFile;
    },
    memory: () => memoryOf(app.pid),
  };
}
