import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadMessagingSettings, messagingEnvSchema } from '@app/messaging/config';
import { composeConfig, REPO_ROOT, type ComposeFile } from '../system/support/compose-config';
import { finalStage, type DockerfileStage } from '../system/support/dockerfile';

/**
 * docker-compose.yml (as `docker-compose config` resolves it), the Dockerfile, package.json and the
 * README agree on ports, commands and variables. Read from the files themselves, never from copies
 * kept in this test.
 */
const APPS = ['producer', 'consumer'] as const;
/** Variables the apps read besides the messaging settings (each documented in the README). */
const APP_VARIABLES: Record<(typeof APPS)[number], string[]> = { producer: [], consumer: ['CONSUMER_SIMULATED_FAILURES'] };
/** The image and the OpenTelemetry SDK read these; the messaging settings do not. */
const RUNTIME_VARIABLE = /^(NODE_ENV|NODE_OPTIONS|SCARF_ANALYTICS|OTEL_[A-Z_]+)$/;

let compose: ComposeFile;
let image: DockerfileStage;
let readme: string;
let scripts: Record<string, string>;

beforeAll(() => {
  compose = composeConfig();
  image = finalStage(resolve(REPO_ROOT, 'Dockerfile'));
  readme = readFileSync(resolve(REPO_ROOT, 'README.md'), 'utf8');
  scripts = (JSON.parse(readFileSync(resolve(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
});

const settingsOf = (app: (typeof APPS)[number]) => loadMessagingSettings({ ...image.env, ...compose.services[app].environment });

describe('docker-compose.yml', () => {
  it.each(APPS)('sets on the %s only variables the settings schema (or the app) knows, with valid values', (app) => {
    const known = new Set([...Object.keys(messagingEnvSchema.shape), ...APP_VARIABLES[app]]);
    const unknown = Object.keys(compose.services[app].environment).filter((name) => !known.has(name) && !RUNTIME_VARIABLE.test(name));
    expect(unknown).toEqual([]);
    expect(() => settingsOf(app)).not.toThrow();
  });

  it.each(APPS)('publishes the %s on the port its settings make it listen on, and its healthcheck asks that port', (app) => {
    const settings = settingsOf(app);
    const port = app === 'producer' ? settings.producerPort : settings.consumerPort;
    const variable = app === 'producer' ? 'PRODUCER_PORT' : 'CONSUMER_PORT';
    expect(compose.services[app].ports.map((mapping) => mapping.target)).toEqual([port]);
    expect(image.expose).toContain(port);
    const probe = (compose.services[app].healthcheck?.test ?? []).join(' ');
    expect(probe).toMatch(new RegExp(`/health\\b`));
    expect(probe.includes(`process.env.${variable}`) || probe.includes(`:${port}/`)).toBe(true);
  });

  it.each(APPS)('runs the %s with the command of its `npm run start:<app>` script, a built file of the image', (app) => {
    const command = compose.services[app].command ?? image.cmd;
    expect(command).toEqual(scripts[`start:${app}`].split(/\s+/));
    expect(existsSync(resolve(REPO_ROOT, command?.[1] ?? ''))).toBe(true);
  });

  it('builds both apps from the Dockerfile, whose default command is the producer and which runs /app as an unprivileged user', () => {
    for (const app of APPS) expect(compose.services[app].build?.dockerfile).toBe('Dockerfile');
    expect(image.cmd).toEqual(compose.services.producer.command);
    expect(image.workdir).toBe('/app');
    expect(image.user).toBe('node');
    expect(image.instructions).toContain('COPY --from=build /app/dist ./dist');
  });

  it.each(APPS)('gives the %s more time to stop than its SHUTDOWN_TIMEOUT_MS drain, so a stop is not a SIGKILL', (app) => {
    expect(compose.services[app].stopGracePeriodMs).toBeGreaterThan(settingsOf(app).shutdownTimeoutMs);
  });

  it('starts the apps only once the broker and Redis are healthy, and gives every service a healthcheck', () => {
    for (const app of APPS) expect(compose.services[app].dependsOn.sort()).toEqual(['rabbitmq', 'redis']);
    const unchecked = Object.values(compose.services).filter((service) => service.healthcheck === undefined);
    expect(unchecked.map((service) => service.name)).toEqual([]);
  });

  it('publishes the broker and Redis on 127.0.0.1 at the ports the suites of test/compose.sh use', () => {
    const published = (name: string) => compose.services[name].ports.map((port) => `${port.hostIp}:${port.published}`);
    expect(published('rabbitmq')).toContain('127.0.0.1:5672');
    expect(published('redis')).toEqual(['127.0.0.1:6379']);
    const script = readFileSync(resolve(REPO_ROOT, 'test', 'compose.sh'), 'utf8');
    expect(script).toContain('amqp://guest:guest@127.0.0.1:5672');
    expect(script).toContain('redis://127.0.0.1:6379');
  });
});

describe('the Dockerfile and .dockerignore', () => {
  it('leave in the build context everything the Dockerfile copies', () => {
    const ignored = readFileSync(resolve(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('!'));
    const copied = readFileSync(resolve(REPO_ROOT, 'Dockerfile'), 'utf8')
      .split('\n')
      .filter((line) => /^COPY\s/.test(line) && !/--from=/.test(line))
      .flatMap((line) => line.trim().split(/\s+/).slice(1, -1));
    expect(copied.length).toBeGreaterThan(0);
    const matches = (pattern: string, path: string) =>
      new RegExp(
        `^${pattern
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*\*\//g, '(.*/)?')
          .replace(/\*/g, '[^/]*')}$`,
      ).test(path);
    expect(copied.filter((path) => ignored.some((pattern) => matches(pattern.replace(/\/$/, ''), path)))).toEqual([]);
  });
});

describe('the README', () => {
  it('names only commands that exist as npm scripts', () => {
    const named = [...readme.matchAll(/npm run ([\w:.-]+)/g)].map((match) => match[1]);
    expect(named).toEqual(expect.arrayContaining(['test:e2e:compose', 'test:system']));
    expect(named.filter((name) => scripts[name] === undefined)).toEqual([]);
  });

  it('documents every variable compose sets on the apps, their published ports and the system suite variables', () => {
    const variables = new Set(APPS.flatMap((app) => Object.keys(compose.services[app].environment)));
    expect([...variables].filter((name) => !readme.includes(`\`${name}\``))).toEqual([]);
    for (const app of APPS) for (const port of compose.services[app].ports) expect(readme).toContain(String(port.published));
    const suiteVariables = ['PRODUCER_URL', 'CONSUMER_URL', 'RABBITMQ_URL', 'REDIS_URL', 'SYSTEM_API_KEY'];
    expect(suiteVariables.filter((name) => !readme.includes(`\`${name}\``))).toEqual([]);
  });
});

describe('test/compose.sh', () => {
  it('is what `npm run test:e2e:compose` runs, and parses', () => {
    expect(scripts['test:e2e:compose']).toBe('bash test/compose.sh');
    expect(() => execFileSync('bash', ['-n', resolve(REPO_ROOT, 'test', 'compose.sh')], { stdio: 'pipe' })).not.toThrow();
  });
});
