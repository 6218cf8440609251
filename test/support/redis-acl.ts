import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type Redis from 'ioredis';
import { processAlive } from './test-env';

/** A Redis ACL user of the suite's own, with a password: for URLs like rediss://user:password@host/db. */
export interface RedisAclUser {
  name: string;
  password: string;
  /** ACL DELUSER (its connections are closed by Redis). Safe to call twice. */
  remove: () => Promise<void>;
}

const HOST = hostname()
  .toLowerCase()
  .replace(/[^a-z0-9]+/g, '-')
  .slice(0, 40);
const PREFIX = `messaging-e2e-${HOST}-`;
const OURS = new RegExp(`^${PREFIX}(\\d+)-[0-9a-f]{6}$`);

/**
 * What the apps need, and no more (the README's operations section documents the same list): the
 * `messaging:` keys (REDIS_KEY_PREFIX, and PROCESSED_STREAM under it); reads, writes, Lua scripts,
 * MULTI; PING, SELECT, CLIENT SETNAME and the like; INFO for ioredis's ready check. No administrative
 * command, no FLUSHALL/FLUSHDB, no pub/sub channel.
 */
export const APP_PERMISSIONS = [
  '~messaging:*',
  'resetchannels',
  '-@all',
  '+@read',
  '+@write',
  '+@scripting',
  '+@transaction',
  '+@connection',
  '+info',
  // The outbox's scripts read the server's clock (TIME is in none of the categories above).
  '+time',
  '-@admin',
  '-flushall',
  '-flushdb',
];

/**
 * Creates a user with APP_PERMISSIONS on the shared Redis (server-wide: ACL users are not per
 * database). Users left by dead test processes of this host are deleted first. Nothing else of the
 * server's configuration changes.
 */
export async function createRedisAclUser(redis: Redis): Promise<RedisAclUser> {
  const users = (await redis.call('ACL', 'USERS')) as string[];
  for (const user of users) {
    const pid = OURS.exec(user)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !processAlive(Number(pid))) await redis.call('ACL', 'DELUSER', user);
  }
  const name = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  const password = randomBytes(24).toString('hex');
  await redis.call('ACL', 'SETUSER', name, 'reset', 'on', `>${password}`, ...APP_PERMISSIONS);
  let removed: Promise<void> | undefined;
  const remove = () => (removed ??= redis.call('ACL', 'DELUSER', name).then(() => undefined));
  return { name, password, remove };
}
