import { chownSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killAtExit, killHard, readNumber, run, serverDirectory, serverPort } from './own-servers';
import { waitFor } from './wait-for';

/**
 * A RabbitMQ node of the suite's own, for faults that change a server (memory alarms, a short
 * consumer_timeout, crashing a node, clusters): the machine's rabbitmq-server run as the rabbitmq user
 * (for its Erlang cookie), with its own node name, ports, config, plugins file (none), data and log
 * directories, and a minimal environment (its scripts read stray variables such as LOGS). It takes
 * about 130 MiB and 10-20 s to start. The machine's own node (rabbit@localhost, 5672) is never touched.
 */
export interface OwnRabbit {
  /** e.g. own-flow-4711-1@localhost */
  nodeName: string;
  /** AMQP port on 127.0.0.1. */
  port: number;
  distPort: number;
  dir: string;
  /** amqp://guest:guest@127.0.0.1:<port>/<vhost> (guest may log in over loopback). */
  url(vhost?: string): string;
  /** rabbitmqctl -n <node> <args>. */
  ctl(...args: string[]): Promise<string>;
  addVhost(vhost: string): Promise<void>;
  /** Raises (true) or clears (false) the memory alarm: publishing connections block while it is raised. */
  setMemoryAlarm(raised: boolean): Promise<void>;
  /** Whether the node currently reports a memory alarm. */
  memoryAlarm(): Promise<boolean>;
  /** The beam process's pid, or undefined when not running. */
  pid(): number | undefined;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Starts it again with the same name, ports and data after a kill or stop. */
  restart(): Promise<void>;
  /** Stops the node and removes its directories. Safe to call twice. */
  stop(): Promise<void>;
}

export interface OwnRabbitOptions {
  /** Part of the node name and directory, e.g. 'flow'. */
  label: string;
  /** Extra rabbitmq.conf lines, e.g. ['consumer_timeout = 5000']. */
  config?: string[];
  /** How long to wait for the node to boot (default 90 s; a node takes 10-20 s on a quiet machine). */
  startTimeoutMs?: number;
}

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const HOME = '/var/lib/rabbitmq';
let started = 0;

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (!statSync(path).isDirectory()) return;
  for (const entry of readdirSync(path)) chownTree(join(path, entry), uid, gid);
}

export async function startOwnRabbit(options: OwnRabbitOptions): Promise<OwnRabbit> {
  const dir = serverDirectory('rabbit', options.label);
  const nodeName = `own-${options.label.replace(/[^a-z0-9-]/gi, '')}-${process.pid}-${++started}@localhost`;
  const port = await serverPort();
  let distPort = await serverPort();
  while (distPort === port) distPort = await serverPort();
  const pidFile = join(dir, 'server.pid');
  writeFileSync(join(dir, 'rabbitmq.conf'), [`listeners.tcp.local = 127.0.0.1:${port}`, ...(options.config ?? [])].join('\n') + '\n');
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  // An env file of its own, so /etc/rabbitmq/rabbitmq-env.conf (the machine node's NODENAME) is not read.
  writeFileSync(join(dir, 'rabbitmq-env.conf'), 'ERL_EPMD_ADDRESS=127.0.0.1\n');
  const { uid, gid } = await rabbitmqIds();
  chownTree(dir, uid, gid);

  const env = {
    PATH: '/usr/sbin:/usr/bin:/bin',
    HOME,
    LANG: 'C.UTF-8',
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_PID_FILE: pidFile,
    ERL_FLAGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  const assignments = Object.entries(env).map(([key, value]) => `${key}=${shellQuote(value)}`);
  const startCommand = `env -i ${assignments.join(' ')} ${SERVER} -detached`;

  const ctl = (...args: string[]) => run('rabbitmqctl', ['-n', nodeName, ...args], { timeoutMs: 60_000 });
  let removeExitKill: (() => void) | undefined;
  let stopped = false;

  const boot = async () => {
    rmSync(pidFile, { force: true });
    await run('su', ['rabbitmq', '-s', '/bin/sh', '-c', startCommand]);
    await waitFor(
      async () => {
        await ctl('await_startup', '--timeout', '10');
        return true;
      },
      {
        timeoutMs: options.startTimeoutMs ?? 90_000,
        intervalMs: 500,
        description: `RabbitMQ node ${nodeName} to start (logs in ${dir}/log)`,
      },
    );
    const pid = readNumber(pidFile);
    removeExitKill?.();
    if (pid !== undefined) removeExitKill = killAtExit(() => killHard(pid));
  };

  const node: OwnRabbit = {
    nodeName,
    port,
    distPort,
    dir,
    url: (vhost = '/') => `amqp://guest:guest@127.0.0.1:${port}/${encodeURIComponent(vhost)}`,
    ctl,
    addVhost: async (vhost) => {
      await ctl('add_vhost', vhost);
      await ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
    },
    setMemoryAlarm: async (raised) => {
      // A watermark of almost nothing raises the alarm at the next memory check; 0.4 is the default.
      await ctl('set_vm_memory_high_watermark', raised ? '0.0000001' : '0.4');
      await waitFor(async () => (await node.memoryAlarm()) === raised, {
        timeoutMs: 20_000,
        intervalMs: 200,
        description: `memory alarm ${raised ? 'raised' : 'cleared'} on ${nodeName}`,
      });
    },
    memoryAlarm: async () => (await ctl('eval', 'rabbit_alarm:get_alarms().')).includes('resource_limit,memory'),
    pid: () => readNumber(pidFile),
    kill: async () => {
      const pid = readNumber(pidFile);
      if (pid !== undefined) killHard(pid);
      await waitFor(async () => !(await isUp(ctl)), { timeoutMs: 20_000, intervalMs: 200, description: `${nodeName} to die` });
    },
    restart: boot,
    stop: () => {
      if (stopped) return Promise.resolve();
      stopped = true;
      const pid = readNumber(pidFile);
      if (pid !== undefined) killHard(pid);
      removeExitKill?.();
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
  try {
    await boot();
  } catch (error) {
    await node.stop();
    throw error;
  }
  return node;
}

async function isUp(ctl: (...args: string[]) => Promise<string>): Promise<boolean> {
  try {
    await ctl('ping', '--timeout', '2');
    return true;
  } catch {
    return false;
  }
}

async function rabbitmqIds(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'rabbitmq']), run('id', ['-g', 'rabbitmq'])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
