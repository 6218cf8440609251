import type Redis from 'ioredis';
import type { MessageSelection, WireMessage } from '../envelope';

/** A message waiting in the outbox, as a replayer claims it. */
export interface OutboxEntry extends WireMessage {
  storedAt: number;
  /** Failed replays so far. */
  attempts: number;
  lastError?: string;
}

export interface OutboxFailure {
  id: string;
  nextAttemptAt: number;
  error: string;
}

export interface OutboxLimits {
  maxAttempts: number;
  maxAgeMs: number;
}

export interface OutboxCounts {
  pending: number;
  parked: number;
}

/*
 * Keys, all in one hash slot ({outbox}) so the scripts below stay valid on Redis Cluster:
 *   <prefix>:{outbox}:record:<id>  hash: body, type, correlationId, storedAt, attempts, lastError
 *   <prefix>:{outbox}:due          sorted set: id -> when it may next be replayed (ms). A claim moves the
 *                                  score to the end of the lease, so a replayer that dies frees it then.
 *   <prefix>:{outbox}:parked       sorted set: id -> when it was parked. Parked records are kept.
 */

/** Writes a record once: a second write of the same id keeps the first (and its attempt count). */
const STORE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'body', ARGV[2], 'type', ARGV[3], 'correlationId', ARGV[4],
  'storedAt', ARGV[5], 'attempts', 0, 'lastError', ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
return 1`;

/** Claims up to ARGV[3] due records by pushing their due time to the lease end; returns them flat. */
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local rec = redis.call('HMGET', ARGV[4] .. id, 'body', 'type', 'correlationId', 'storedAt', 'attempts', 'lastError')
  if rec[1] then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    table.insert(out, id)
    for i = 1, 6 do table.insert(out, rec[i] or '') end
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out`;

/** Deletes records whose publish the broker confirmed. */
const REMOVE = `
for i = 2, #ARGV do
  redis.call('DEL', ARGV[1] .. ARGV[i])
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return #ARGV - 1`;

/** Counts a failed replay; reschedules the record, or parks it past the attempt or age limit. */
const FAIL = `
local prefix, now, maxAttempts, maxAge = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local parked = 0
for i = 5, #ARGV, 3 do
  local id, nextAt, err = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local key = prefix .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    local attempts = redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'lastError', err, 'lastAttemptAt', now)
    local storedAt = tonumber(redis.call('HGET', key, 'storedAt')) or now
    if attempts >= maxAttempts or now - storedAt >= maxAge then
      redis.call('ZREM', KEYS[1], id)
      redis.call('ZADD', KEYS[2], now, id)
      parked = parked + 1
    else
      redis.call('ZADD', KEYS[1], nextAt, id)
    end
  end
end
return parked`;

/**
 * Moves parked records back to due with a fresh attempt budget and age, at the Redis server's time
 * (no producer's clock). ARGV[2] is 'all' (every parked record) or 'ids' (ARGV[3..]).
 */
const UNPARK = `
local prefix, mode = ARGV[1], ARGV[2]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ids = {}
if mode == 'all' then
  ids = redis.call('ZRANGE', KEYS[2], 0, -1)
else
  for i = 3, #ARGV do table.insert(ids, ARGV[i]) end
end
local moved = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[2], id) == 1 then
    redis.call('HSET', prefix .. id, 'attempts', 0, 'storedAt', now)
    redis.call('ZADD', KEYS[1], now, id)
    moved = moved + 1
  end
end
return moved`;

type OutboxRedis = Redis & {
  outboxStore(record: string, due: string, ...args: (string | number)[]): Promise<number>;
  outboxClaim(due: string, ...args: (string | number)[]): Promise<string[]>;
  outboxRemove(due: string, ...args: string[]): Promise<number>;
  outboxFail(due: string, parked: string, ...args: (string | number)[]): Promise<number>;
  outboxUnpark(due: string, parked: string, ...args: (string | number)[]): Promise<number>;
};

/** The Redis store of sends the broker did not confirm. It knows nothing of who replays them. */
export class OutboxStore {
  private readonly redis: OutboxRedis;
  private readonly recordPrefix: string;
  private readonly dueKey: string;
  private readonly parkedKey: string;

  constructor(redis: Redis, keyPrefix: string) {
    const base = `${keyPrefix}:{outbox}`;
    this.recordPrefix = `${base}:record:`;
    this.dueKey = `${base}:due`;
    this.parkedKey = `${base}:parked`;
    redis.defineCommand('outboxStore', { numberOfKeys: 2, lua: STORE });
    redis.defineCommand('outboxClaim', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('outboxRemove', { numberOfKeys: 1, lua: REMOVE });
    redis.defineCommand('outboxFail', { numberOfKeys: 2, lua: FAIL });
    redis.defineCommand('outboxUnpark', { numberOfKeys: 2, lua: UNPARK });
    this.redis = redis as OutboxRedis;
  }

  /** Durably records a message for replay; idempotent by message id. Rejects if Redis cannot take it. */
  async store(message: WireMessage, reason: string, now = Date.now()): Promise<void> {
    await this.redis.outboxStore(
      this.recordPrefix + message.id,
      this.dueKey,
      message.id,
      message.body.toString('utf8'),
      message.type,
      message.correlationId ?? '',
      now,
      reason,
    );
  }

  /** Atomically leases up to `limit` due messages until `now + leaseMs`. */
  async claimDue(limit: number, leaseMs: number, now = Date.now()): Promise<OutboxEntry[]> {
    const flat = await this.redis.outboxClaim(this.dueKey, now, now + leaseMs, limit, this.recordPrefix);
    const entries: OutboxEntry[] = [];
    for (let i = 0; i < flat.length; i += 7) {
      const [id, body, type, correlationId, storedAt, attempts, lastError] = flat.slice(i, i + 7);
      entries.push({
        id,
        type,
        body: Buffer.from(body, 'utf8'),
        correlationId: correlationId || undefined,
        storedAt: Number(storedAt),
        attempts: Number(attempts),
        lastError: lastError || undefined,
      });
    }
    return entries;
  }

  async remove(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.outboxRemove(this.dueKey, this.recordPrefix, ...ids);
  }

  /** Records failed replays; returns how many of them were parked. */
  async recordFailures(failures: OutboxFailure[], limits: OutboxLimits, now = Date.now()): Promise<number> {
    if (failures.length === 0) return 0;
    const args = failures.flatMap((f) => [f.id, f.nextAttemptAt, f.error.slice(0, 500)]);
    return this.redis.outboxFail(this.dueKey, this.parkedKey, this.recordPrefix, now, limits.maxAttempts, limits.maxAgeMs, ...args);
  }

  /**
   * Puts parked messages back in line for replay, due at once with a fresh attempt budget: those with
   * the given ids, or every one only for `{ all: true }`. Returns how many moved; an empty list is a
   * no-op.
   */
  async unpark(selection: MessageSelection): Promise<number> {
    if ('all' in selection) return this.redis.outboxUnpark(this.dueKey, this.parkedKey, this.recordPrefix, 'all');
    if (selection.ids.length === 0) return 0;
    return this.redis.outboxUnpark(this.dueKey, this.parkedKey, this.recordPrefix, 'ids', ...selection.ids);
  }

  async counts(): Promise<OutboxCounts> {
    const [[, pending], [, parked]] = (await this.redis.multi().zcard(this.dueKey).zcard(this.parkedKey).exec()) as [
      [unknown, number],
      [unknown, number],
    ];
    return { pending, parked };
  }

  /** Lists pending or parked messages, oldest first. */
  async list(which: 'pending' | 'parked', limit = 100, offset = 0): Promise<OutboxEntry[]> {
    const ids = await this.redis.zrange(which === 'pending' ? this.dueKey : this.parkedKey, offset, offset + limit - 1);
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.recordPrefix + id, 'body', 'type', 'correlationId', 'storedAt', 'attempts', 'lastError');
    const rows = ((await pipeline.exec()) ?? []) as [unknown, (string | null)[]][];
    return ids.flatMap((id, i) => {
      const [body, type, correlationId, storedAt, attempts, lastError] = rows[i][1];
      if (body === null) return [];
      return [
        {
          id,
          type: type ?? '',
          body: Buffer.from(body, 'utf8'),
          correlationId: correlationId || undefined,
          storedAt: Number(storedAt),
          attempts: Number(attempts),
          lastError: lastError || undefined,
        },
      ];
    });
  }
}
