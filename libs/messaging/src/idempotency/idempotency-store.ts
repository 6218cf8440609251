import type Redis from 'ioredis';
import type { RedisCommand } from './redis-effect';

export type ClaimResult = 'acquired' | 'busy' | 'done';

/*
 * Keys per message id (the id in braces keeps a message's keys in one Redis Cluster slot):
 *   <prefix>:{<id>}:done  the done mark, written only after the work succeeded; expires after the TTL
 *   <prefix>:{<id>}:lock  the token of the delivery working on the id right now; expires unless renewed
 * Effect commands run inside the same scripts, so an effect and its done mark land together or not at all.
 * They travel as flat arguments after the script's own: for each command its length, then its name and
 * arguments (['XADD', 's', '*'] -> 3, XADD, s, *); no JSON to encode here or to decode in Lua.
 */

/** Runs the effect commands found in ARGV from index `first` on (see above). */
const RUN_EFFECT = `
local function runEffect(first)
  local i = first
  while i <= #ARGV do
    local n = tonumber(ARGV[i])
    redis.call(unpack(ARGV, i + 1, i + n))
    i = i + n + 1
  end
end`;

/** Applies the effect (ARGV[2..]) and the done mark once. Returns 1 if applied, 0 if the id was already done. */
const COMMIT = `${RUN_EFFECT}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
runEffect(2)
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return 1`;

/** done, or the lock for this token (re-entrant), or busy when another delivery holds it. */
const CLAIM = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'done' end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'acquired' end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 'acquired'
end
return 'busy'`;

/** COMMIT for a lock holder (effect in ARGV[3..]): also frees the lock if it is still this token's. */
const COMPLETE = `${RUN_EFFECT}
local applied = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  runEffect(3)
  redis.call('SET', KEYS[1], '1', 'EX', ARGV[2])
  applied = 1
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return applied`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

type IdempotencyRedis = Redis & {
  idemCommit(done: string, ttl: number, ...effect: (string | number)[]): Promise<number>;
  idemClaim(done: string, lock: string, token: string, ttlMs: number): Promise<ClaimResult>;
  idemComplete(done: string, lock: string, token: string, ttl: number, ...effect: (string | number)[]): Promise<number>;
  idemRelease(lock: string, token: string): Promise<number>;
  idemRenew(lock: string, token: string, ttlMs: number): Promise<number>;
};

/** The Redis side of the idempotency guard: done marks, per-id locks and atomic effects. */
export class IdempotencyStore {
  private readonly redis: IdempotencyRedis;

  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
    private readonly doneTtlSeconds: number,
  ) {
    redis.defineCommand('idemCommit', { numberOfKeys: 1, lua: COMMIT });
    redis.defineCommand('idemClaim', { numberOfKeys: 2, lua: CLAIM });
    redis.defineCommand('idemComplete', { numberOfKeys: 2, lua: COMPLETE });
    redis.defineCommand('idemRelease', { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand('idemRenew', { numberOfKeys: 1, lua: RENEW });
    this.redis = redis as IdempotencyRedis;
  }

  /** Commits effect + done mark in one round trip; false when the id was done already. */
  async commit(id: string, commands: RedisCommand[]): Promise<boolean> {
    return (await this.redis.idemCommit(this.doneKey(id), this.doneTtlSeconds, ...flatten(commands))) === 1;
  }

  async claim(id: string, token: string, lockTtlMs: number): Promise<ClaimResult> {
    return this.redis.idemClaim(this.doneKey(id), this.lockKey(id), token, lockTtlMs);
  }

  /** Marks done (with the effect) and frees the lock; false when the id was done already. */
  async complete(id: string, token: string, commands: RedisCommand[]): Promise<boolean> {
    return (await this.redis.idemComplete(this.doneKey(id), this.lockKey(id), token, this.doneTtlSeconds, ...flatten(commands))) === 1;
  }

  async release(id: string, token: string): Promise<void> {
    await this.redis.idemRelease(this.lockKey(id), token);
  }

  async renew(id: string, token: string, lockTtlMs: number): Promise<boolean> {
    return (await this.redis.idemRenew(this.lockKey(id), token, lockTtlMs)) === 1;
  }

  async isDone(id: string): Promise<boolean> {
    return (await this.redis.exists(this.doneKey(id))) === 1;
  }

  private doneKey(id: string): string {
    return `${this.keyPrefix}:{${id}}:done`;
  }

  private lockKey(id: string): string {
    return `${this.keyPrefix}:{${id}}:lock`;
  }
}

/** The effect as script arguments: each command's length, then the command. */
function flatten(commands: RedisCommand[]): (string | number)[] {
  const args: (string | number)[] = [];
  for (const command of commands) args.push(command.length, ...command);
  return args;
}
