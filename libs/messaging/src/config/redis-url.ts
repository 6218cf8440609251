/**
 * Where Redis is, as REDIS_URL names it:
 *  - `redis[s]://[[user]:password@]host[:port][/db]`: one server (TLS with rediss://);
 *  - `redis+sentinel://[[user]:password@]host:port[,host:port…]/<master-name>[/<db>]`: a primary found
 *    through Sentinels. The hosts are the Sentinels; the credentials are the data nodes' (Sentinels
 *    without a password, as usual); the client asks the Sentinels for the primary at every connect, so
 *    it follows a failover without a restart.
 * Kept apart from the drivers (config/ imports nothing of the project): redis/ turns a target into
 * ioredis options.
 */
export type RedisTarget =
  | { kind: 'standalone'; url: string }
  | {
      kind: 'sentinel';
      sentinels: { host: string; port: number }[];
      masterName: string;
      db: number;
      username?: string;
      password?: string;
    };

export const SENTINEL_SCHEME = 'redis+sentinel:';
const DEFAULT_SENTINEL_PORT = 26379;
const MASTER_NAME = /^[a-zA-Z0-9._-]{1,128}$/;
const HOST = /^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9.-]{1,253})$/;

/** Thrown with a reason that never contains the URL itself (it may hold a password). */
export class InvalidRedisUrlError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidRedisUrlError';
  }
}

export function parseRedisUrl(url: string): RedisTarget {
  if (!url.startsWith(`${SENTINEL_SCHEME}//`)) return { kind: 'standalone', url };
  const rest = url.slice(SENTINEL_SCHEME.length + 2);
  const at = rest.lastIndexOf('@');
  const credentials = at >= 0 ? rest.slice(0, at) : undefined;
  const [hostList, masterName, db, ...extra] = (at >= 0 ? rest.slice(at + 1) : rest).split('/');
  if (extra.length > 0 || masterName === undefined || !MASTER_NAME.test(masterName)) {
    throw new InvalidRedisUrlError('a redis+sentinel:// URL must end in /<master-name> or /<master-name>/<db>');
  }
  if (db !== undefined && !/^\d{1,2}$/.test(db)) throw new InvalidRedisUrlError('the database after the master name must be a number');
  const sentinels = hostList.split(',').map(parseHostPort);
  let username: string | undefined;
  let password: string | undefined;
  if (credentials !== undefined) {
    const colon = credentials.indexOf(':');
    username = decode(colon >= 0 ? credentials.slice(0, colon) : credentials) || undefined;
    password = colon >= 0 ? decode(credentials.slice(colon + 1)) : undefined;
  }
  return { kind: 'sentinel', sentinels, masterName, db: db === undefined ? 0 : Number(db), username, password };
}

function parseHostPort(entry: string): { host: string; port: number } {
  const match = /^(.*?)(?::(\d{1,5}))?$/.exec(entry.trim());
  const host = match?.[1] ?? '';
  const port = match?.[2] === undefined ? DEFAULT_SENTINEL_PORT : Number(match[2]);
  if (!HOST.test(host) || port < 1 || port > 65535) {
    throw new InvalidRedisUrlError('each Sentinel must be host:port, separated by commas');
  }
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new InvalidRedisUrlError('the credentials are not valid percent-encoding');
  }
}
