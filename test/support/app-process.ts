import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from './free-port';

export type AppKind = 'producer' | 'consumer';

export interface AppProcess {
  kind: AppKind;
  port: number;
  pid: number;
  /** http://127.0.0.1:<port><path> */
  url: (path: string) => string;
  /** SIGKILL; resolves once the process has exited. */
  kill: () => Promise<void>;
  /** SIGTERM; resolves with the exit code (null when ended by a signal) once it has exited. */
  stop: () => Promise<number | null>;
  /** Resolves with the exit code (null when ended by a signal) once the process has exited. */
  exited: Promise<number | null>;
  /**
   * The signal that ended the process, once it has exited (else null). A graceful stop of a Nest app
   * ends with SIGTERM here and a null exit code: Nest re-raises the signal after its shutdown hooks.
   */
  exitSignal: () => NodeJS.Signals | null;
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string;
  /** Path of the log file holding the same output. */
  logFile: string;
}

export interface StartAppOptions {
  /** Default true: resolve only once GET /health/live answers 200. */
  waitForHealth?: boolean;
  /** Default 20 000. */
  healthTimeoutMs?: number;
  /**
   * Default false: also wait until GET /health answers "ok" (see waitForReady). Live is not ready: a
   * consumer that is live may not have declared and bound its queues yet, so a message published at
   * that moment is unroutable and gone; a live producer may still hand its sends to the outbox.
   */
  ready?: boolean;
  /** A TypeScript entry point run through ts-node (a fixture app under test/fixtures) instead of the built app of `kind`. */
  entry?: string;
}

const ROOT = resolve(__dirname, '..', '..');
const LOG_DIR = join(ROOT, 'test', '.logs');
/** The built apps: `<repo>/dist` unless E2E_DIST_DIR names another build (e.g. a snapshot of dist/). */
const DIST = resolve(process.env.E2E_DIST_DIR ?? join(ROOT, 'dist'));
const MAIN: Record<AppKind, string> = {
  producer: join(DIST, 'apps/producer/apps/producer/src/main.js'),
  consumer: join(DIST, 'apps/consumer/apps/consumer/src/main.js'),
};
const EXIT_WITH_PARENT = join(__dirname, 'exit-with-parent.js');
const PORT_VARIABLE: Record<AppKind, string> = { producer: 'PRODUCER_PORT', consumer: 'CONSUMER_PORT' };
const MAX_KEPT_OUTPUT = 4 * 1024 * 1024;

/**
 * Apps started by this process and still running. Kept on `process` (shared by every test file that
 * jest loads in this process), so the exit hook below is installed once, not once per file.
 */
const REGISTRY = Symbol.for('messaging-e2e.running-apps');
const shared = process as unknown as Record<symbol, Set<ChildProcess> | undefined>;
const running: Set<ChildProcess> = (shared[REGISTRY] ??= installExitHook(new Set<ChildProcess>()));

// A test process that ends (even by a failed assertion or a timeout) must not leave apps behind.
function installExitHook(children: Set<ChildProcess>): Set<ChildProcess> {
  process.once('exit', () => {
    for (const child of children) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  return children;
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

function lastLines(text: string, count = 40): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-count).join('\n');
}

async function isLive(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer().catch(() => undefined);
    return response.status === 200;
  } catch {
    return false;
  }
}

/**
 * Spawns a built app (`npm run build` first) with process.env merged with `env`, on a free port unless
 * `env` names one. Output goes to test/.logs/<kind>-<pid>.log and to `output()`.
 */
export async function startApp(kind: AppKind, env: Record<string, string>, opts: StartAppOptions = {}): Promise<AppProcess> {
  // A port that was free a moment ago can be taken by another process before the app listens: then
  // start again on another one (only when the port was ours to pick).
  for (let attempt = 1; ; attempt++) {
    try {
      const app = await startAppOnce(kind, env, opts);
      if (opts.ready) await waitForReady(app, opts.healthTimeoutMs);
      return app;
    } catch (error) {
      const ours = env[PORT_VARIABLE[kind]] === undefined;
      if (!ours || attempt >= 3 || !/EADDRINUSE/.test((error as Error).message)) throw error;
    }
  }
}

async function startAppOnce(kind: AppKind, env: Record<string, string>, opts: StartAppOptions): Promise<AppProcess> {
  const { waitForHealth = true, healthTimeoutMs = 20_000 } = opts;
  const portVariable = PORT_VARIABLE[kind];
  const port = env[portVariable] !== undefined ? Number(env[portVariable]) : await freePort();
  if (!opts.entry && !existsSync(MAIN[kind])) {
    throw new Error(`the ${kind} is not built: ${MAIN[kind]} does not exist; run \`npm run build\` first`);
  }
  mkdirSync(LOG_DIR, { recursive: true });

  const main = opts.entry ? ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', opts.entry] : [MAIN[kind]];
  const child = spawn(process.execPath, ['-r', EXIT_WITH_PARENT, ...main], {
    cwd: ROOT,
    env: { ...process.env, [portVariable]: String(port), ...(opts.entry ? { TS_NODE_PROJECT: 'tsconfig.json' } : {}), ...env },
    // The IPC channel only tells the app when this process is gone (see exit-with-parent.js).
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const spawnError = await new Promise<Error | undefined>((done) => {
    child.once('spawn', () => done(undefined));
    child.once('error', (error) => done(error));
  });
  if (spawnError || child.pid === undefined) {
    throw new Error(`could not start the ${kind}: ${spawnError?.message ?? 'no pid'}`);
  }
  running.add(child);
  // An app a test forgot to stop must not keep the test process alive; the exit hook then kills it.
  child.unref();
  for (const handle of [child.stdout, child.stderr, child.channel])
    (handle as unknown as { unref?: () => void } | null | undefined)?.unref?.();
  const pid = child.pid;
  const logFile = join(LOG_DIR, `${kind}-${pid}.log`);
  const log: WriteStream = createWriteStream(logFile);
  log.on('error', () => undefined);

  let output = '';
  const collect = (chunk: Buffer) => {
    log.write(chunk);
    output += chunk.toString('utf8');
    if (output.length > MAX_KEPT_OUTPUT) output = output.slice(-MAX_KEPT_OUTPUT / 2);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.on('error', () => undefined);

  let exitCode: number | null | undefined;
  let exitSignal: NodeJS.Signals | null = null;
  const exited = new Promise<number | null>((done) => {
    child.once('close', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      running.delete(child);
      log.end();
      done(code);
    });
  });

  const url = (path: string) => `http://127.0.0.1:${port}${path.startsWith('/') ? path : `/${path}`}`;
  const signal = (name: NodeJS.Signals) => {
    if (exitCode === undefined) {
      try {
        child.kill(name);
      } catch {
        // already gone
      }
    }
  };
  const app: AppProcess = {
    kind,
    port,
    pid,
    url,
    exited,
    exitSignal: () => exitSignal,
    logFile,
    output: () => output,
    kill: async () => {
      signal('SIGKILL');
      await exited;
    },
    stop: async () => {
      signal('SIGTERM');
      return exited;
    },
  };

  if (!waitForHealth) return app;

  const deadline = Date.now() + healthTimeoutMs;
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`the ${kind} (pid ${pid}) exited with code ${exitCode} before it was healthy; log ${logFile}:\n${lastLines(output)}`);
    }
    if (await isLive(url('/health/live'))) return app;
    if (Date.now() >= deadline) {
      await app.kill();
      throw new Error(
        `the ${kind} (pid ${pid}) was not healthy (GET /health/live) within ${healthTimeoutMs} ms; killed it; log ${logFile}:\n${lastLines(output)}`,
      );
    }
    await Promise.race([sleep(100), exited]);
  }
}

/** SIGKILLs every app this process started that is still running, and waits for them to exit. */
export async function stopAll(): Promise<void> {
  const children = [...running];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            running.delete(child);
            done();
            return;
          }
          child.once('close', () => done());
          try {
            child.kill('SIGKILL');
          } catch {
            done();
          }
        }),
    ),
  );
}

/**
 * Waits until GET /health answers 200 with status "ok" (every dependency up, not degraded): the
 * producer has the broker and the outbox, the consumer has the broker and Redis.
 */
export async function waitForReady(app: AppProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const response = await fetch(app.url('/health'), { signal: AbortSignal.timeout(2000) });
      const text = await response.text();
      last = `${response.status} ${text}`;
      if (response.status === 200 && (JSON.parse(text) as { status?: string }).status === 'ok') return;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out waiting for the ${app.kind} (pid ${app.pid}) to be ready after ${timeoutMs} ms; last GET /health: ${last}; log ${app.logFile}:\n${lastLines(app.output())}`,
      );
    }
    await Promise.race([sleep(100), app.exited]);
  }
}
