import { execFile, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, type ComposeHealthcheck } from './compose-config';

/**
 * A compose service's process run on this machine from the repository root (the image's /app): its
 * command as compose gives it, and only the container's environment (the image's ENV, then compose's
 * `environment`) plus PATH and HOME. It dies with the test process (the harness's IPC preload).
 */
export interface ServiceProcess {
  name: string;
  pid: number;
  exited: Promise<number | null>;
  output: () => string;
  logFile: string;
  kill: () => Promise<void>;
}

const EXIT_WITH_PARENT = join(REPO_ROOT, 'test', 'support', 'exit-with-parent.js');
const LOG_DIR = join(REPO_ROOT, 'test', '.logs');
const MAX_KEPT_OUTPUT = 1024 * 1024;

/** What a container adds to its environment besides the image's and compose's variables. */
function baseEnvironment(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };
}

export function startService(name: string, command: string[], environment: Record<string, string>): Promise<ServiceProcess> {
  mkdirSync(LOG_DIR, { recursive: true });
  const child = spawn(command[0], command.slice(1), {
    cwd: REPO_ROOT,
    // NODE_OPTIONS carries the preload that kills the app when this test process goes away.
    env: { ...baseEnvironment(), ...environment, NODE_OPTIONS: `--require ${EXIT_WITH_PARENT}` },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`${name}: could not run ${command.join(' ')}: ${error.message}`)));
    child.once('spawn', () => {
      const pid = child.pid as number;
      const logFile = join(LOG_DIR, `compose-${name}-${pid}.log`);
      const log = createWriteStream(logFile);
      log.on('error', () => undefined);
      let output = '';
      const collect = (chunk: Buffer) => {
        log.write(chunk);
        output = (output + chunk.toString('utf8')).slice(-MAX_KEPT_OUTPUT);
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      const exited = new Promise<number | null>((done) =>
        child.once('close', (code) => {
          log.end();
          done(code);
        }),
      );
      child.unref();
      resolve({
        name,
        pid,
        exited,
        logFile,
        output: () => output,
        kill: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      });
    });
  });
}

export interface HealthcheckRun {
  passed: boolean;
  exitCode: number | null;
  timedOut: boolean;
  output: string;
}

/**
 * Runs a compose healthcheck as the engine does inside the container: `CMD` argv as is, `CMD-SHELL`
 * through /bin/sh -c, in the container's environment, killed after its `timeout` (which fails it).
 */
export function runHealthcheck(check: ComposeHealthcheck, environment: Record<string, string>): Promise<HealthcheckRun> {
  const [kind, ...rest] = check.test;
  const argv = kind === 'CMD' ? rest : kind === 'CMD-SHELL' ? ['/bin/sh', '-c', rest.join(' ')] : undefined;
  if (argv === undefined || argv.length === 0) throw new Error(`unknown healthcheck test: ${JSON.stringify(check.test)}`);
  return new Promise((resolve) => {
    execFile(
      argv[0],
      argv.slice(1),
      { cwd: REPO_ROOT, env: { ...baseEnvironment(), ...environment }, timeout: check.timeoutMs, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: number | string; killed?: boolean }) | null;
        const exitCode = failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null;
        resolve({ passed: failure === null, exitCode, timedOut: failure?.killed === true, output: `${stdout}${stderr}`.trim() });
      },
    );
  });
}
