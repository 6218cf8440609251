import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import * as amqplib from 'amqplib';
import type { ChannelModel } from 'amqplib';
import Redis from 'ioredis';
import { rabbitmqctl, reviveDeadLetterSupervisor } from './rabbitmqctl';
import { waitFor } from './wait-for';

/**
 * An isolated place for one suite on the shared services: its own RabbitMQ vhost and its own Redis
 * database (1..15, reserved in db 0 so concurrent runs never share one). The services are the ones
 * RABBITMQ_URL / REDIS_URL name in the test process's environment (first URL of a list; its vhost and
 * db are ignored), defaulting to 127.0.0.1. The vhost is created with `rabbitmqctl`, on the local node.
 */
export interface TestEnv {
  label: string;
  vhost: string;
  /** Direct URL of the vhost, e.g. amqp://guest:guest@127.0.0.1:5672/test-happy-123-abcdef */
  amqpUrl: string;
  /** Direct URL of the reserved database, e.g. redis://127.0.0.1:6379/7 */
  redisUrl: string;
  redisDb: number;
  /** A client on the reserved database (closed by cleanup). */
  redis: Redis;
  /** Opens a new amqplib connection to the vhost (closed by cleanup if still open). */
  amqp: () => Promise<ChannelModel>;
  /** Where the services are, for FaultProxy.start(env.amqpPort, env.amqpHost) and the like. */
  amqpHost: string;
  amqpPort: number;
  redisHost: string;
  redisPort: number;
  /** Deletes the vhost, flushes and releases the database, closes the clients. Safe to call twice. */
  cleanup: () => Promise<void>;
}

interface ServiceBase {
  amqp: { user: string; password: string; host: string; port: number; scheme: string };
  redis: { user: string; password: string; host: string; port: number; scheme: string };
}

const RESERVATION_PREFIX = 'messaging-test:db:';
const RESERVATION_TTL_SECONDS = 900;
const RESERVATION_REFRESH_MS = 60_000;
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const TAKE_OVER_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end return false`;
const REFRESH_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 0`;

/** Where RabbitMQ and Redis are, from the test process's environment. */
export function serviceBase(env: NodeJS.ProcessEnv = process.env): ServiceBase {
  const amqp = new URL((env.RABBITMQ_URL ?? '').split(',')[0]?.trim() || 'amqp://guest:guest@127.0.0.1:5672');
  const redis = new URL(env.REDIS_URL || 'redis://127.0.0.1:6379');
  const amqps = amqp.protocol === 'amqps:';
  return {
    amqp: {
      scheme: amqps ? 'amqps' : 'amqp',
      user: decodeURIComponent(amqp.username || 'guest'),
      password: decodeURIComponent(amqp.password || 'guest'),
      host: amqp.hostname || '127.0.0.1',
      port: Number(amqp.port || (amqps ? 5671 : 5672)),
    },
    redis: {
      scheme: redis.protocol === 'rediss:' ? 'rediss' : 'redis',
      user: decodeURIComponent(redis.username),
      password: decodeURIComponent(redis.password),
      host: redis.hostname || '127.0.0.1',
      port: Number(redis.port || 6379),
    },
  };
}

function amqpUrlOf(base: ServiceBase['amqp'], vhost: string, host = base.host, port = base.port): string {
  return `${base.scheme}://${encodeURIComponent(base.user)}:${encodeURIComponent(base.password)}@${host}:${port}/${encodeURIComponent(vhost)}`;
}

function redisUrlOf(base: ServiceBase['redis'], db: number, host = base.host, port = base.port): string {
  const auth = base.password ? `${encodeURIComponent(base.user)}:${encodeURIComponent(base.password)}@` : '';
  return `${base.scheme}://${auth}${host}:${port}/${db}`;
}

function newRedis(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 3, connectTimeout: 5000, lazyConnect: false });
  client.on('error', () => undefined);
  return client;
}

function shuffled<T>(items: T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

const OUR_VHOST = /^test-[a-z0-9-]*-(\d+)-[0-9a-f]{6}$/;

/** Whether a process of this host still runs (left-overs of dead test processes are reclaimed). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function reserveDb(control: Redis, token: string): Promise<number> {
  return waitFor(
    async () => {
      for (const db of shuffled(Array.from({ length: 15 }, (_, i) => i + 1))) {
        const key = `${RESERVATION_PREFIX}${db}`;
        const ok = await control.set(key, token, 'EX', RESERVATION_TTL_SECONDS, 'NX');
        if (ok === 'OK') return db;
        // A reservation left by a test process of this host that died before its cleanup is taken over.
        const holder = await control.get(key);
        const [holderVhost, holderHost] = (holder ?? '').split('@');
        const pid = OUR_VHOST.exec(holderVhost ?? '')?.[1];
        if (
          holder !== null &&
          holderHost === hostname() &&
          pid !== undefined &&
          Number(pid) !== process.pid &&
          !processAlive(Number(pid))
        ) {
          const taken = await control.eval(TAKE_OVER_SCRIPT, 1, key, holder, token, RESERVATION_TTL_SECONDS);
          if (taken === 'OK') return db;
        }
      }
      return undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, description: 'a free Redis database (1..15) to reserve' },
  );
}

/** Deletes vhosts left by earlier test processes (on this host) that died before their cleanup. */
async function sweepAbandonedVhosts(): Promise<void> {
  try {
    const out = await rabbitmqctl('list_vhosts', 'name', '--quiet', '--no-table-headers');
    const abandoned = out
      .split('\n')
      .map((line) => line.trim())
      .filter((name) => {
        const match = OUR_VHOST.exec(name);
        return match !== null && Number(match[1]) !== process.pid && !processAlive(Number(match[1]));
      });
    await Promise.all(abandoned.map((name) => rabbitmqctl('delete_vhost', name).catch(() => undefined)));
  } catch {
    // best effort
  }
}

/** A Redis database of this run's own, reserved in db 0 so no concurrent run picks (and flushes) it. */
export interface ReservedRedisDb {
  db: number;
  url: string;
  /** A client on the database (closed by release). */
  redis: Redis;
  /** Flushes the database, closes the client and gives the reservation back. Safe to call twice. */
  release: () => Promise<void>;
}

/**
 * Reserves a free database (1..15) under `owner`, which must look like one of our vhost names
 * (test-<slug>-<pid>-<hex>) so a run that died can have its reservation taken over. Flushed on arrival.
 */
async function reserveRedisDb(owner: string): Promise<ReservedRedisDb> {
  const base = serviceBase();
  const token = `${owner}@${hostname()}@${Date.now()}`;
  const control = newRedis(redisUrlOf(base.redis, 0));
  let db: number;
  try {
    db = await reserveDb(control, token);
  } catch (error) {
    control.disconnect();
    throw error;
  }
  const reservationKey = `${RESERVATION_PREFIX}${db}`;
  const refresh = setInterval(() => {
    void control.eval(REFRESH_SCRIPT, 1, reservationKey, token, RESERVATION_TTL_SECONDS).catch(() => undefined);
  }, RESERVATION_REFRESH_MS);
  refresh.unref();
  const url = redisUrlOf(base.redis, db);
  const redis = newRedis(url);
  let released: Promise<void> | undefined;
  const release = (): Promise<void> => {
    released ??= (async () => {
      clearInterval(refresh);
      await redis.flushdb().catch(() => undefined);
      await redis.quit().catch(() => redis.disconnect());
      await control.eval(RELEASE_SCRIPT, 1, reservationKey, token).catch(() => undefined);
      await control.quit().catch(() => control.disconnect());
    })();
    return released;
  };
  try {
    await redis.flushdb();
  } catch (error) {
    await release();
    throw error;
  }
  return { db, url, redis, release };
}

function ownerName(label: string): string {
  const slug =
    label
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'suite';
  return `test-${slug}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** A Redis database for a suite that needs no vhost (the store specs beside the library source). */
export function reserveRedisDatabase(label: string): Promise<ReservedRedisDb> {
  return reserveRedisDb(ownerName(label));
}

/** Creates the vhost and reserves a database. Call once per suite (rabbitmqctl is slow). */
export async function createTestEnv(label: string): Promise<TestEnv> {
  const base = serviceBase();
  const vhost = ownerName(label);
  const { db: redisDb, url: redisUrl, redis, release } = await reserveRedisDb(vhost);
  const connections = new Set<ChannelModel>();
  let vhostCreated = false;

  let cleanedUp: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleanedUp ??= (async () => {
      await Promise.all([...connections].map((connection) => connection.close().catch(() => undefined)));
      connections.clear();
      if (vhostCreated) {
        await rabbitmqctl('delete_vhost', vhost).catch(() => undefined);
        await reviveDeadLetterSupervisor();
      }
      await release();
    })();
    return cleanedUp;
  };

  try {
    await sweepAbandonedVhosts();
    await reviveDeadLetterSupervisor();
    await rabbitmqctl('add_vhost', vhost);
    vhostCreated = true;
    await rabbitmqctl('set_permissions', '-p', vhost, base.amqp.user, '.*', '.*', '.*');
  } catch (error) {
    await cleanup();
    throw error;
  }

  const amqpUrl = amqpUrlOf(base.amqp, vhost);
  const amqp = async (): Promise<ChannelModel> => {
    const connection = await amqplib.connect(amqpUrl);
    connection.on('error', () => undefined);
    connections.add(connection);
    connection.on('close', () => connections.delete(connection));
    return connection;
  };

  return {
    label,
    vhost,
    amqpUrl,
    redisUrl,
    redisDb,
    redis,
    amqp,
    amqpHost: base.amqp.host,
    amqpPort: base.amqp.port,
    redisHost: base.redis.host,
    redisPort: base.redis.port,
    cleanup,
  };
}

/**
 * The environment an app needs to run in `env`: RABBITMQ_URL and REDIS_URL pointing straight at the
 * services, or at FaultProxy ports on 127.0.0.1 when given, and LOG_LEVEL=warn.
 */
export function appEnv(env: TestEnv, proxies: { amqpPort?: number; redisPort?: number } = {}): Record<string, string> {
  const base = serviceBase();
  return {
    RABBITMQ_URL: proxies.amqpPort === undefined ? env.amqpUrl : amqpUrlOf(base.amqp, env.vhost, '127.0.0.1', proxies.amqpPort),
    REDIS_URL: proxies.redisPort === undefined ? env.redisUrl : redisUrlOf(base.redis, env.redisDb, '127.0.0.1', proxies.redisPort),
    LOG_LEVEL: 'warn',
  };
}
