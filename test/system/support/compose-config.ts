import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { load } from 'js-yaml';

/**
 * docker-compose.yml as Compose itself resolves it (`docker-compose config`: anchors, merges and
 * `${VAR:-default}` interpolation done), so the tests read what compose would run, not a copy.
 * Both Compose v1 (Debian's docker-compose 1.29) and v2 (`docker compose`) print this YAML; the
 * differences between them (short and long port syntax, numbers as strings) are absorbed here.
 */
export interface ComposeHealthcheck {
  /** `["CMD", ...argv]` or `["CMD-SHELL", command]`, as compose passes it to the engine. */
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export interface ComposePort {
  hostIp?: string;
  published?: number;
  target: number;
  protocol: string;
}

export interface ComposeService {
  name: string;
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment: Record<string, string>;
  healthcheck?: ComposeHealthcheck;
  ports: ComposePort[];
  dependsOn: string[];
  /** How long compose waits after SIGTERM before it SIGKILLs (compose's default: 10 s). */
  stopGracePeriodMs: number;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  /** The text compose printed, for error messages. */
  text: string;
}

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/** The compose CLI of this machine: v1's `docker-compose` (what CI installs), else v2's `docker compose`. */
function composeCommand(): string[] {
  for (const candidate of [['docker-compose'], ['docker', 'compose']]) {
    try {
      execFileSync(candidate[0], [...candidate.slice(1), 'version'], { stdio: 'ignore', timeout: 30_000 });
      return candidate;
    } catch {
      // not this one
    }
  }
  throw new Error(
    'neither docker-compose nor `docker compose` is installed: `apt-get install docker-compose` (.ci/run does) to parse docker-compose.yml',
  );
}

/** Runs `config` on a compose file of the repository (docker-compose.yml) with `env` as the interpolation environment. */
export function composeConfig(env: NodeJS.ProcessEnv = process.env, file = 'docker-compose.yml'): ComposeFile {
  const [command, ...prefix] = composeCommand();
  const text = execFileSync(command, [...prefix, '--file', resolve(REPO_ROOT, file), 'config'], {
    cwd: REPO_ROOT,
    env,
    encoding: 'utf8',
    timeout: 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return parseComposeConfig(text);
}

/** A YAML scalar as text; compose prints numbers and booleans unquoted where a string is meant. */
function scalar(value: unknown, where: string): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`compose config: ${where} is not a scalar: ${JSON.stringify(value)}`);
}

/** `10s`, `1m30s`, `500ms`, `1h` → milliseconds (compose's duration format). */
export function durationMs(value: unknown, fallbackMs: number): number {
  if (value === undefined || value === null) return fallbackMs;
  const text = scalar(value, 'a duration');
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, ns: 0.000001 };
  let total = 0;
  let rest = text;
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g)) {
    total += Number(match[1]) * units[match[2]];
    rest = rest.replace(match[0], '');
  }
  if (rest.length > 0 || text.length === 0) throw new Error(`not a compose duration: ${text}`);
  return total;
}

function parsePort(entry: unknown): ComposePort {
  if (typeof entry === 'object' && entry !== null) {
    const port = entry as Record<string, unknown>;
    return {
      hostIp: typeof port.host_ip === 'string' ? port.host_ip : undefined,
      published: port.published === undefined ? undefined : Number(port.published),
      target: Number(port.target),
      protocol: typeof port.protocol === 'string' ? port.protocol : 'tcp',
    };
  }
  // Short syntax: [host_ip:][published:]target[/protocol]
  const [spec, protocol = 'tcp'] = String(entry).split('/');
  const parts = spec.split(':');
  const target = Number(parts.pop());
  const published = parts.length > 0 ? Number(parts.pop()) : undefined;
  return { hostIp: parts.length > 0 ? parts.join(':') : undefined, published, target, protocol };
}

function parseEnvironment(raw: unknown): Record<string, string> {
  const environment: Record<string, string> = {};
  const entries: [string, unknown][] = Array.isArray(raw)
    ? raw.map((item) => {
        const text = String(item);
        const at = text.indexOf('=');
        return at < 0 ? [text, null] : [text.slice(0, at), text.slice(at + 1)];
      })
    : Object.entries((raw ?? {}) as Record<string, unknown>);
  // A variable without a value is passed from the shell that runs compose only when set there.
  for (const [name, value] of entries) if (value !== null && value !== undefined) environment[name] = scalar(value, `environment ${name}`);
  return environment;
}

function parseHealthcheck(raw: unknown): ComposeHealthcheck | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const check = raw as Record<string, unknown>;
  if (check.disable === true) return undefined;
  const test = typeof check.test === 'string' ? ['CMD-SHELL', check.test] : ((check.test as unknown[] | undefined) ?? []).map(String);
  if (test.length === 0 || test[0] === 'NONE') return undefined;
  return {
    test,
    intervalMs: durationMs(check.interval, 30_000),
    timeoutMs: durationMs(check.timeout, 30_000),
    retries: check.retries === undefined ? 3 : Number(check.retries),
    startPeriodMs: durationMs(check.start_period, 0),
  };
}

export function parseComposeConfig(text: string): ComposeFile {
  const document = load(text) as { services?: Record<string, Record<string, unknown>> } | null;
  if (!document?.services) throw new Error(`compose config printed no services:\n${text}`);
  const services: Record<string, ComposeService> = {};
  for (const [name, raw] of Object.entries(document.services)) {
    const build = raw.build as { context?: string; dockerfile?: string } | string | undefined;
    const command = raw.command;
    services[name] = {
      name,
      image: typeof raw.image === 'string' ? raw.image : undefined,
      build:
        build === undefined
          ? undefined
          : typeof build === 'string'
            ? { context: build, dockerfile: 'Dockerfile' }
            : { context: build.context ?? '.', dockerfile: build.dockerfile ?? 'Dockerfile' },
      // A string command is split on whitespace (no shell quoting is used in this project's file).
      command:
        command === undefined || command === null
          ? undefined
          : Array.isArray(command)
            ? command.map((word) => scalar(word, `${name} command`))
            : scalar(command, `${name} command`).split(/\s+/),
      environment: parseEnvironment(raw.environment),
      healthcheck: parseHealthcheck(raw.healthcheck),
      stopGracePeriodMs: durationMs(raw.stop_grace_period, 10_000),
      ports: ((raw.ports as unknown[] | undefined) ?? []).map(parsePort),
      dependsOn: Array.isArray(raw.depends_on)
        ? raw.depends_on.map((dependency) => scalar(dependency, `${name} depends_on`))
        : Object.keys(raw.depends_on ?? {}),
    };
  }
  return { services, text };
}
