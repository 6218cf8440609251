import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { FaultProxy } from '../support/fault-proxy';
import { freePort } from '../support/free-port';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { runHealthcheck, startService, type ServiceProcess } from '../system/support/compose-app';
import { composeConfig, REPO_ROOT, type ComposeFile, type ComposeHealthcheck } from '../system/support/compose-config';
import { hostEnvironment } from '../system/support/compose-host-env';
import { finalStage } from '../system/support/dockerfile';

/**
 * The apps exactly as docker-compose.yml runs them, without a Docker engine: each app service's
 * command (or the image's CMD) from the repository root (the image's /app, after `npm run build`),
 * in the container's environment (the image's ENV, then compose's `environment`, resolved by
 * `docker-compose config` with API_KEYS set the way an operator would), with compose's hostnames
 * `rabbitmq` and `redis` led to a vhost and Redis db of this suite's own through fault proxies, and
 * the published ports to free ports. Then: the compose healthchecks, run as written, pass; the
 * black-box system suite (`npm run test:system`) passes against them; and each healthcheck fails
 * while a dependency the app cannot work without is stopped, and passes again once it is back.
 */
const APPS = ['producer', 'consumer'] as const;
type App = (typeof APPS)[number];
const PORT_VARIABLE: Record<App, string> = { producer: 'PRODUCER_PORT', consumer: 'CONSUMER_PORT' };
const API_KEY = `system-test-key-${randomBytes(12).toString('hex')}`;
const SYSTEM_SUITE_TIMEOUT_MS = 90_000;

let compose: ComposeFile;
let env: TestEnv;
let brokerProxy: FaultProxy;
let redisProxy: FaultProxy;
const ports = {} as Record<App, number>;
const environments = {} as Record<App, Record<string, string>>;
const running: ServiceProcess[] = [];

function healthcheckOf(app: App): ComposeHealthcheck {
  const check = compose.services[app].healthcheck;
  if (check === undefined) throw new Error(`docker-compose.yml gives the ${app} no healthcheck`);
  return check;
}

const healthcheck = (app: App) => runHealthcheck(healthcheckOf(app), environments[app]);

/** Polls the healthcheck as the engine does, until it gives `passed` (bounded by the compose timings). */
function waitForHealthcheck(app: App, passed: boolean, timeoutMs = 20_000) {
  return waitFor(async () => (await healthcheck(app)).passed === passed, {
    timeoutMs,
    intervalMs: 200,
    description: `the ${app}'s compose healthcheck to ${passed ? 'pass' : 'fail'}`,
  });
}

beforeAll(async () => {
  compose = composeConfig({ ...process.env, API_KEYS: API_KEY });
  const build = compose.services.producer.build ?? { context: REPO_ROOT, dockerfile: 'Dockerfile' };
  const image = finalStage(resolve(REPO_ROOT, build.context, build.dockerfile));
  env = await createTestEnv('compose-deployment');
  brokerProxy = await FaultProxy.start(env.amqpPort, env.amqpHost);
  redisProxy = await FaultProxy.start(env.redisPort, env.redisHost);
  const viaProxies = appEnv(env, { amqpPort: brokerProxy.port, redisPort: redisProxy.port });
  for (const app of APPS) ports[app] = await freePort();
  const portMapping = Object.fromEntries(APPS.map((app) => [PORT_VARIABLE[app], ports[app]]));

  for (const app of APPS) {
    const service = compose.services[app];
    const mapped = hostEnvironment(compose, service, {
      broker: () => viaProxies.RABBITMQ_URL,
      redis: () => viaProxies.REDIS_URL,
      ports: portMapping,
      apps: Object.fromEntries(APPS.map((peer) => [peer, `http://127.0.0.1:${ports[peer]}`])),
    });
    environments[app] = { ...image.env, ...mapped };
  }
  const started = await Promise.all(
    APPS.map((app) => {
      const command = compose.services[app].command ?? image.cmd;
      if (command === undefined) throw new Error(`neither docker-compose.yml nor the Dockerfile gives the ${app} a command`);
      return startService(app, command, environments[app]);
    }),
  );
  running.push(...started);
  try {
    await Promise.all(APPS.map((app) => waitForHealthcheck(app, true, 30_000)));
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\n${started.map((app) => `--- ${app.name} (${app.logFile}):\n${app.output().slice(-3000)}`).join('\n')}`,
    );
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(running.map((app) => app.kill()));
  await brokerProxy?.stop();
  await redisProxy?.stop();
  await env?.cleanup();
});

describe('the apps as docker-compose.yml runs them', () => {
  it('run with the compose environment: production image settings, the API key from the interpolation, compose hostnames mapped', () => {
    for (const app of APPS) {
      expect(environments[app]).toEqual(
        expect.objectContaining({ NODE_ENV: 'production', API_KEYS: API_KEY, [PORT_VARIABLE[app]]: String(ports[app]) }),
      );
      expect(environments[app].RABBITMQ_URL).toContain(`127.0.0.1:${brokerProxy.port}/`);
      expect(environments[app].REDIS_URL).toContain(`127.0.0.1:${redisProxy.port}/${env.redisDb}`);
    }
  });

  it('pass their compose healthchecks as written', async () => {
    for (const app of APPS) expect(await healthcheck(app)).toEqual(expect.objectContaining({ passed: true, exitCode: 0 }));
  });

  it(
    'pass the black-box system suite (npm run test:system) run against them',
    async () => {
      const { code, output } = await runSystemSuite();
      if (code !== 0) throw new Error(`npm run test:system exited with ${code}:\n${output.slice(-8000)}`);
      expect(output).toMatch(/Tests:\s+\d+ passed, \d+ total/);
    },
    SYSTEM_SUITE_TIMEOUT_MS + 5000,
  );
});

describe('the compose healthchecks', () => {
  afterEach(async () => {
    brokerProxy.accept();
    redisProxy.accept();
    await Promise.all(APPS.map((app) => waitForHealthcheck(app, true)));
  });

  it('fail the consumer while Redis is stopped, not the producer (its broker still takes messages), and pass once it is back', async () => {
    redisProxy.refuse();
    await waitForHealthcheck('consumer', false);
    expect((await healthcheck('producer')).passed).toBe(true);
    redisProxy.accept();
    await waitForHealthcheck('consumer', true);
  });

  it('fail the consumer while the broker is stopped, and the producer once Redis (its outbox) is stopped too', async () => {
    brokerProxy.refuse();
    await waitForHealthcheck('consumer', false);
    // The producer still accepts into the outbox: a container that can take messages is healthy.
    expect((await healthcheck('producer')).passed).toBe(true);
    redisProxy.refuse();
    await waitForHealthcheck('producer', false);
    brokerProxy.accept();
    redisProxy.accept();
    await Promise.all(APPS.map((app) => waitForHealthcheck(app, true)));
  });
});

/** `npm run test:system` with the four variables naming the apps above and their broker and Redis. */
function runSystemSuite(): Promise<{ code: number | null; output: string }> {
  const child = spawn('npm', ['run', '--silent', 'test:system', '--', '--ci'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PRODUCER_URL: `http://127.0.0.1:${ports.producer}`,
      CONSUMER_URL: `http://127.0.0.1:${ports.consumer}`,
      RABBITMQ_URL: env.amqpUrl,
      REDIS_URL: env.redisUrl,
      SYSTEM_API_KEY: API_KEY,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), SYSTEM_SUITE_TIMEOUT_MS);
  return new Promise((done) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      done({ code, output });
    }),
  );
}
