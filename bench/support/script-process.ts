import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { profileControl, profilingEnv, type ProfileControl } from './cpu-profile';
import { cpuMsOf, memoryOf, type ProcessMemory } from './memory';

/** A baseline script (bench/baselines/*.js) running as a process of its own. */
export interface ScriptProcess {
  pid: number;
  /** Resolves with the `result` of the JSON line the script prints when done; rejects if it fails. */
  result: <T>() => Promise<T>;
  /** Resolves once the script printed a line starting with `prefix`. */
  printed: (prefix: string, timeoutMs?: number) => Promise<void>;
  memory: () => ProcessMemory | undefined;
  /** CPU time used so far, ms (see cpuMsOf). */
  cpuMs: () => number;
  /** The CPU profile over a phase (when started with a profile file). */
  profile: ProfileControl;
  /** SIGTERM, then waits for the exit. */
  stop: () => Promise<void>;
}

const ROOT = resolve(__dirname, '..', '..');
/** The e2e harness's preload: the script dies with this process (see test/support/exit-with-parent.js). */
const EXIT_WITH_PARENT = join(ROOT, 'test', 'support', 'exit-with-parent.js');

/** Starts bench/baselines/<script>; with `profileFile`, it can be profiled (see cpu-profile.ts). */
export function startScript(script: string, env: Record<string, string>, profileFile?: string): ScriptProcess {
  const child = spawn(process.execPath, ['-r', EXIT_WITH_PARENT, join(ROOT, 'bench', 'baselines', script)], {
    cwd: ROOT,
    env: { ...process.env, ...env, ...profilingEnv(profileFile) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.channel?.unref();
  let stdout = '';
  let stderr = '';
  const lineWaiters: { prefix: string; done: () => void }[] = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    for (const waiter of [...lineWaiters]) {
      if (stdout.split('\n').some((line) => line.startsWith(waiter.prefix))) {
        lineWaiters.splice(lineWaiters.indexOf(waiter), 1);
        waiter.done();
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
  const failure = (what: string) => new Error(`${script} ${what}; stderr:\n${stderr.trim().split('\n').slice(-20).join('\n')}`);

  return {
    pid: child.pid ?? -1,
    result: async <T>() => {
      const code = await exited;
      const line = stdout
        .trim()
        .split('\n')
        .reverse()
        .find((text) => text.startsWith('{"result"'));
      if (code !== 0 || line === undefined) throw failure(`exited with code ${code} and no result`);
      return (JSON.parse(line) as { result: T }).result;
    },
    printed: (prefix, timeoutMs = 30_000) =>
      new Promise<void>((done, fail) => {
        const timer = setTimeout(() => fail(failure(`did not print "${prefix}" within ${timeoutMs} ms`)), timeoutMs);
        void exited.then((code) => fail(failure(`exited with code ${code} before printing "${prefix}"`)));
        lineWaiters.push({
          prefix,
          done: () => {
            clearTimeout(timer);
            done();
          },
        });
      }),
    memory: () => (child.pid === undefined ? undefined : memoryOf(child.pid)),
    cpuMs: () => (child.pid === undefined ? Number.NaN : cpuMsOf(child.pid)),
    profile: profileControl(child.pid ?? -1, () => stdout, profileFile),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
