import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type Redis from 'ioredis';

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

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates a user on the shared Redis (server-wide: ACL users are not per database) that may run what
 * the apps run on any key, but no administrative command and no FLUSHALL/FLUSHDB. Users left by dead
 * test processes of this host are deleted first. Nothing else of the server's configuration changes.
 */
export async function createRedisAclUser(redis: Redis): Promise<RedisAclUser> {
  const users = (await redis.call('ACL', 'USERS')) as string[];
  for (const user of users) {
    const pid = OURS.exec(user)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !processAlive(Number(pid))) await redis.call('ACL', 'DELUSER', user);
  }
  const name = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  const password = randomBytes(24).toString('hex');
  await redis.call('ACL', 'SETUSER', name, 'reset', 'on', `>${password}`, '~*', '&*', '+@all', '-@admin', '-flushall', '-flushdb');
  let removed: Promise<void> | undefined;
  const remove = () => (removed ??= redis.call('ACL', 'DELUSER', name).then(() => undefined));
  return { name, password, remove };
}
