import { Logger } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { maskUrlPassword, parseRedisUrl, type RedisTarget } from '../config';
import { replyCode } from './redis-failure-kind';

/**
 * A Redis client that fails fast instead of queueing: with no offline queue a command sent while the
 * connection is down rejects at once, and `commandTimeout` bounds a command the server never answers.
 * Callers decide what a failure means (503, wait, retry) rather than piling up work in memory.
 * Unfulfilled commands are not re-sent after a reconnect, so a command this process has given up on
 * does not run later behind its back. A READONLY reply means the server became a replica (a demoted
 * primary after a failover): the client drops the connection and connects again, so it reaches the
 * primary that the URL (or a Sentinel) names now instead of asking the replica forever.
 */
export function createRedisClient(url: string, commandTimeoutMs: number, connectionName: string): Redis {
  const logger = new Logger(`Redis(${connectionName})`);
  let healthy = true;
  const options: RedisOptions = {
    connectionName,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 2000),
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
    // true: reconnect, and do not re-send the refused command (its caller has its answer and decides).
    reconnectOnError: (error) => {
      if (replyCode(error) !== 'READONLY') return false;
      if (healthy) logger.warn(`${maskUrlPassword(url)} is read-only (a replica now): reconnecting`);
      healthy = false;
      return true;
    },
  };
  const client = connect(parseRedisUrl(url), url, options);
  client.on('ready', () => {
    if (!healthy) logger.log(`reconnected to ${maskUrlPassword(url)}`);
    healthy = true;
  });
  client.on('error', (error: Error) => {
    if (healthy) logger.warn(`connection problem: ${error.message}`);
    healthy = false;
  });
  return client;
}

/**
 * One server by its URL, or the primary the Sentinels name: asked at every (re)connect, and, with the
 * failover detector, dropped as soon as a Sentinel announces a new primary, so both apps follow a
 * failover without a restart. A Sentinel that does not answer is skipped for the next in the list.
 */
function connect(target: RedisTarget, url: string, options: RedisOptions): Redis {
  if (target.kind === 'standalone') return new Redis(url, options);
  return new Redis({
    ...options,
    sentinels: target.sentinels,
    name: target.masterName,
    db: target.db,
    username: target.username,
    password: target.password,
    failoverDetector: true,
    sentinelCommandTimeout: options.commandTimeout,
    sentinelRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
  });
}

/**
 * Waits (bounded) for the first connection, so the app does not refuse its first requests while a
 * healthy Redis is still handshaking. A Redis that is down does not hold the start up past the bound.
 */
export async function firstConnection(client: Redis, boundMs: number): Promise<Redis> {
  if (client.status === 'ready') return client;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, boundMs);
    client.once('ready', done);
    function done() {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    }
  });
  return client;
}

export function isRedisReady(client: Redis): boolean {
  return client.status === 'ready';
}
