/**
 * A stand-in for test/support/own-redis.ts (startOwnRedis) until it is on this branch: a redis-server
 * of the suite's own on a free port, no persistence unless asked, its files in a temp dir. Same shape
 * as startOwnRedis so the suites switch by changing the import.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from '../support/free-port';
import { waitFor } from '../support/wait-for';

export interface OwnRedis {
  port: number;
  /** The server's working directory (where a snapshot would go). */
  dir: string;
  url: (db?: number) => string;
  client: (db?: number) => Redis;
  stop: () => Promise<void>;
}

export async function startOwnRedis({ label, args = [] }: { label: string; args?: string[] }): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `own-redis-${label}-`));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.once('exit', () => child.kill('SIGKILL'));
  const clients: Redis[] = [];
  const client = (db = 0) => {
    const redis = new Redis({ port, host: '127.0.0.1', db, lazyConnect: false, maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    clients.push(redis);
    return redis;
  };
  const probe = client();
  await waitFor(async () => (await probe.ping()) === 'PONG', { timeoutMs: 5000, description: `redis-server ${label} on ${port}` });
  return {
    port,
    dir,
    url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
    client,
    stop: async () => {
      clients.forEach((c) => c.disconnect());
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
