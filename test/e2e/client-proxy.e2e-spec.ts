/**
 * The library's ClientProxy face (ReliableClientProxy): `client.emit(pattern, data)` completes only
 * once the message is confirmed by the broker or stored in the outbox, and errors when neither can
 * take it; `send()` is refused. jest cannot load the ESM-only parts of the library, so the proxy runs
 * in a child process (test/fixtures/client-proxy-emitter.ts, an application context built with
 * ClientsModule.registerAsync and `customClass: ReliableClientProxy`) whose broker and Redis
 * connections go through FaultProxies. A real consumer produces the effects.
 *
 * emit() gives each message a random id that the fixture cannot report, so the effects are counted by
 * type: the entries of `messaging:processed` with type `proxy.test`, which must be as many as the
 * emits that completed, with no id twice.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { startApp, stopAll, waitForReady } from '../support/app-process';
import { FaultProxy } from '../support/fault-proxy';
import { postMessage } from '../support/http';
import { OUTBOX_DUE } from '../support/outbox-keys';
import { processedEntries } from '../support/processed';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';

const ROOT = resolve(__dirname, '..', '..');
const FIXTURE = 'test/fixtures/client-proxy-emitter.ts';
const TYPE = 'proxy.test';

interface EmitLine {
  i?: number;
  ok?: boolean;
  status?: string;
  error?: string;
  send?: string;
  message?: string;
  done?: boolean;
  ready?: boolean;
  redis?: boolean;
}

interface Emitter {
  /** Every JSON line printed so far. */
  lines: EmitLine[];
  /** Resolves once the fixture printed {"done": true}. */
  done: Promise<void>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stderr: () => string;
  /** SIGTERM (ends a --linger run). */
  stop: () => Promise<number | null>;
}

const emitters = new Set<ReturnType<typeof spawn>>();

function runEmitter(env: Record<string, string>, args: string[]): Emitter {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', FIXTURE, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, TS_NODE_PROJECT: 'tsconfig.json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  emitters.add(child);
  const lines: EmitLine[] = [];
  let stdout = '';
  let stderr = '';
  let markDone: () => void = () => undefined;
  const done = new Promise<void>((resolveDone) => (markDone = resolveDone));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    let newline: number;
    while ((newline = stdout.indexOf('\n')) >= 0) {
      const line = stdout.slice(0, newline).trim();
      stdout = stdout.slice(newline + 1);
      if (!line.startsWith('{')) continue;
      const parsed = JSON.parse(line) as EmitLine;
      lines.push(parsed);
      if (parsed.done) markDone();
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    if (stderr.length > 1_000_000) stderr = stderr.slice(-500_000);
  });
  const exited = new Promise<number | null>((resolveExit) =>
    child.once('close', (code) => {
      emitters.delete(child);
      markDone();
      resolveExit(code);
    }),
  );
  return {
    lines,
    done,
    exited,
    stderr: () => stderr,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

const emits = (emitter: Emitter) => emitter.lines.filter((line) => line.i !== undefined);

async function proxyTestIds(env: TestEnv): Promise<string[]> {
  return (await processedEntries(env.redis)).filter((entry) => entry.type === TYPE).map((entry) => entry.id);
}

describe('ReliableClientProxy (emit through the ClientProxy face)', () => {
  let env: TestEnv;
  let amqpProxy: FaultProxy;
  let redisProxy: FaultProxy;
  let fixtureEnv: Record<string, string>;

  beforeAll(async () => {
    env = await createTestEnv('client-proxy');
    amqpProxy = await FaultProxy.start(env.amqpPort, env.amqpHost);
    redisProxy = await FaultProxy.start(env.redisPort, env.redisHost);
    fixtureEnv = {
      ...appEnv(env, { amqpPort: amqpProxy.port, redisPort: redisProxy.port }),
      OUTBOX_REPLAY_INTERVAL_MS: '100',
      OUTBOX_BACKOFF_BASE_MS: '50',
      OUTBOX_BACKOFF_MAX_MS: '200',
    };
    await waitForReady(await startApp('consumer', appEnv(env)));
  });

  afterEach(() => {
    amqpProxy.accept();
    redisProxy.accept();
  });

  afterAll(async () => {
    for (const child of emitters) child.kill('SIGKILL');
    await stopAll();
    await amqpProxy?.stop();
    await redisProxy?.stop();
    await env?.cleanup();
  });

  it('broker up: 50 emits complete as published and each has exactly one effect; send() is refused with a clear error', async () => {
    const emitter = runEmitter(fixtureEnv, ['50', '--wait-redis', '10000', '--wait-ready', '10000']);
    expect(await emitter.exited).toBe(0);
    expect(emitter.lines).toContainEqual({ redis: true });
    expect(emitter.lines).toContainEqual({ ready: true });
    const results = emits(emitter);
    expect(results).toHaveLength(50);
    expect(results.filter((line) => line.ok === true && line.status === 'published')).toHaveLength(50);

    const ids = await waitFor(
      async () => {
        const found = await proxyTestIds(env);
        return found.length >= 50 ? found : undefined;
      },
      { timeoutMs: 15_000, description: `50 ${TYPE} entries in the processed stream` },
    );
    expect(ids).toHaveLength(50);
    expect(new Set(ids).size).toBe(50);

    // (d) request/response is not offered: send() errors, naming why.
    const send = emitter.lines.find((line) => line.send !== undefined);
    expect(send).toEqual({
      send: 'error',
      message: expect.stringMatching(/supports emit\(\) only.*request\/response \(send\) is not offered/),
    });
  });

  it('broker refused: 50 emits complete as pending (stored in the outbox) and are replayed once the broker is back', async () => {
    const before = await proxyTestIds(env);
    expect(before).toHaveLength(50);
    amqpProxy.refuse();
    const emitter = runEmitter(fixtureEnv, ['50', '--wait-redis', '10000', '--linger']);
    try {
      await emitter.done;
      expect(emitter.lines).toContainEqual({ redis: true });
      const results = emits(emitter);
      expect(results).toHaveLength(50);
      expect(results.filter((line) => line.ok === true && line.status === 'pending')).toHaveLength(50);
      expect(await env.redis.zcard(OUTBOX_DUE)).toBe(50);
      expect(await proxyTestIds(env)).toHaveLength(50);

      // The fixture's own replay job sends its outbox once it reaches the broker again.
      amqpProxy.accept();
      const ids = await waitFor(
        async () => {
          const found = await proxyTestIds(env);
          return found.length >= 100 && (await env.redis.zcard(OUTBOX_DUE)) === 0 ? found : undefined;
        },
        { timeoutMs: 20_000, description: `100 ${TYPE} entries in the processed stream and the outbox drained` },
      );
      expect(ids).toHaveLength(100);
      expect(new Set(ids).size).toBe(100);
    } finally {
      expect(await emitter.stop()).toBe(0);
    }
  });

  it('broker and Redis refused: every emit errors and nothing is processed', async () => {
    amqpProxy.refuse();
    redisProxy.refuse();
    const emitter = runEmitter(fixtureEnv, ['20']);
    expect(await emitter.exited).toBe(0);
    const results = emits(emitter);
    expect(results).toHaveLength(20);
    for (const line of results) {
      expect(line).toEqual({ i: line.i, ok: false, error: expect.stringMatching(/not accepted: broker: .*; outbox: /) });
    }

    // A marker sent after them through the producer: once it has its effect, anything sent before it
    // through the working services would have had its effect too. Nothing may be stored either.
    amqpProxy.accept();
    redisProxy.accept();
    const producer = await startApp('producer', appEnv(env));
    await waitForReady(producer);
    const marker = await postMessage(producer.url(''), { type: 'marker.test', payload: {} });
    expect(marker.status).toBe(202);
    await waitFor(async () => (await processedEntries(env.redis)).some((entry) => entry.id === marker.body.id), {
      timeoutMs: 10_000,
      description: 'the marker message to be processed',
    });
    const ids = await proxyTestIds(env);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(100);
    expect(await env.redis.zcard(OUTBOX_DUE)).toBe(0);
  });
});
