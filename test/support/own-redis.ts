import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { killAtExit, killHard, readNumber, serverDirectory, serverPort } from './own-servers';
import { waitFor } from './wait-for';

/**
 * A redis-server of the suite's own, for faults that change a server (maxmemory, replication, a
 * crashed primary, Sentinel): on a port of its own, keeping nothing on disk unless asked, in a
 * directory of its own. The machine's Redis (6379) is never touched.
 */
export interface OwnRedis {
  port: number;
  dir: string;
  /** redis://127.0.0.1:<port>/<db> */
  url(db?: number): string;
  /** A client on the given database (closed by stop()). */
  client(db?: number): Redis;
  pid(): number | undefined;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (after kill or stop of the process). */
  restart(): Promise<void>;
  /** Kills the server, closes the clients, removes the directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface OwnRedisOptions {
  label: string;
  /** Extra redis-server arguments, e.g. ['--maxmemory-policy', 'noeviction'] or ['--sentinel']. */
  args?: string[];
  /** A config file's content to start from (written to the directory; Sentinel rewrites it). */
  configFile?: string;
  /** Run as a Sentinel (`redis-server <config> --sentinel`): no data settings are passed. */
  sentinel?: boolean;
  /** Use this port instead of a free one (a restarted server keeps its port anyway). */
  port?: number;
}

export async function startOwnRedis(options: OwnRedisOptions): Promise<OwnRedis> {
  const dir = serverDirectory('redis', options.label);
  const port = options.port ?? (await serverPort());
  const pidFile = join(dir, 'server.pid');
  const clients: Redis[] = [];
  let removeExitKill: (() => void) | undefined;
  let stopped = false;

  const boot = async () => {
    const configArgs: string[] = [];
    const file = join(dir, 'redis.conf');
    if (options.configFile !== undefined && !existsSync(file)) writeFileSync(file, options.configFile);
    if (options.configFile !== undefined) configArgs.push(file);
    const common = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--pidfile', pidFile, '--logfile', join(dir, 'redis.log')];
    const data = options.sentinel ? ['--sentinel'] : ['--save', '', '--appendonly', 'no'];
    const args = [...configArgs, ...common, ...data, ...(options.args ?? [])];
    const child = spawn('redis-server', args, { stdio: 'ignore', detached: true });
    child.unref();
    const pid = child.pid;
    removeExitKill?.();
    if (pid !== undefined) removeExitKill = killAtExit(() => killHard(pid));
    await waitFor(
      async () => {
        const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG';
        } finally {
          probe.disconnect();
        }
      },
      { timeoutMs: 15_000, intervalMs: 100, description: `redis-server on ${port} to answer (log in ${dir}/redis.log)` },
    );
  };

  const server: OwnRedis = {
    port,
    dir,
    url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
    client: (db = 0) => {
      const client = new Redis({ port, host: '127.0.0.1', db, maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 100, 1000) });
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    },
    pid: () => readNumber(pidFile),
    kill: () => {
      const pid = readNumber(pidFile);
      if (pid !== undefined) killHard(pid);
      rmSync(pidFile, { force: true });
      return Promise.resolve();
    },
    restart: boot,
    stop: () => {
      if (stopped) return Promise.resolve();
      stopped = true;
      for (const client of clients) client.disconnect();
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
    await server.stop();
    throw error;
  }
  return server;
}
