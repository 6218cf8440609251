import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../test/support/wait-for';

const PRELOAD = join(__dirname, 'cpu-profile-preload.js');

/** The environment that makes a process profilable (see cpu-profile-preload.js), or none. */
export function profilingEnv(file: string | undefined): Record<string, string> {
  if (file === undefined) return {};
  mkdirSync(join(file, '..'), { recursive: true });
  return { NODE_OPTIONS: `-r ${PRELOAD}`, BENCH_CPU_PROFILE: file };
}

export interface ProfileControl {
  /** Starts the CPU profile (nothing when the process is not profiled). */
  begin: () => Promise<void>;
  /** Ends it and returns the .cpuprofile path (undefined when not profiled). */
  end: () => Promise<string | undefined>;
}

/** Drives the profiler of a process started with profilingEnv(file), through SIGUSR2 and its output. */
export function profileControl(pid: number, output: () => string, file: string | undefined): ProfileControl {
  const signalled = async (answer: string) => {
    const seen = output().split(answer).length - 1;
    process.kill(pid, 'SIGUSR2');
    await waitFor(() => Promise.resolve(output().split(answer).length - 1 > seen), {
      timeoutMs: 30_000,
      description: `pid ${pid}: ${answer}`,
    });
  };
  return {
    begin: async () => {
      if (file !== undefined) await signalled('cpu profile started');
    },
    end: async () => {
      if (file === undefined) return undefined;
      await signalled('cpu profile written');
      return file;
    },
  };
}
