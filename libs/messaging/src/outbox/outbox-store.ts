import type Redis from 'ioredis';
import type { MessageSelection, WireMessage } from '../envelope';
import type { ReplicaAcks } from '../redis/replica-acks';
import { CLAIM, CLAIMED_FIELDS, FAIL, RELEASE, REMOVE, STORE } from './outbox-scripts';

/** A message waiting in the outbox, as a replayer claims it. */
export interface OutboxEntry extends WireMessage {
  /** When it was stored, by the Redis server's clock (ms). */
  storedAt: number;
  /** Failed replays that belong to the message (nack, return): these count towards parking. */
  attempts: number;
  /** Replays that failed for the broker's or the link's state (timeout, blocked...): these never park. */
  deferrals: number;
  lastError?: string;
}

export interface OutboxFailure {
  id: string;
  /** How long from now (the Redis server's clock) until it may be replayed again. */
  delayMs: number;
  /** True when the failure belongs to the message (a nack, a return): counted towards parking. */
  counts: boolean;
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
 *   <prefix>:{outbox}:record:<id>  hash: body, type, correlationId, storedAt, attempts, deferrals,
 *                                  lastError, lastAttemptAt, trace (the publish span's context, JSON)
 *   <prefix>:{outbox}:due          sorted set: id -> when it may next be replayed (ms). A claim moves the
 *                                  score to the end of the lease, so a replayer that dies frees it then.
 *   <prefix>:{outbox}:parked       sorted set: id -> when it was parked. Parked records are kept.
 * Every time in these keys is the Redis server's clock (see outbox-scripts.ts).
 */

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
    redis.call('HSET', prefix .. id, 'attempts', 0, 'deferrals', 0, 'storedAt', now)
    redis.call('ZADD', KEYS[1], now, id)
    moved = moved + 1
  end
end
return moved`;

type OutboxRedis = Redis & {
  outboxStore(record: string, due: string, ...args: (string | number)[]): Promise<number>;
  /** The claim's answer as Buffers (ioredis' `Buffer` variant of a defined command): the bodies stay bytes. */
  outboxClaimBuffer(due: string, ...args: (string | number)[]): Promise<Buffer[]>;
  outboxRemove(due: string, ...args: string[]): Promise<number>;
  outboxRelease(due: string, ...ids: string[]): Promise<number>;
  outboxFail(due: string, parked: string, ...args: (string | number)[]): Promise<number>;
  outboxUnpark(due: string, parked: string, ...args: (string | number)[]): Promise<number>;
};

/** The Redis store of sends the broker did not confirm. It knows nothing of who replays them. */
export class OutboxStore {
  private readonly redis: OutboxRedis;
  private readonly recordPrefix: string;
  private readonly dueKey: string;
  private readonly parkedKey: string;

  /** `replicaAcks`: the WAIT a stored record must pass before store() resolves (REDIS_MIN_REPLICA_ACKS). */
  constructor(
    redis: Redis,
    keyPrefix: string,
    private readonly replicaAcks?: ReplicaAcks,
  ) {
    const base = `${keyPrefix}:{outbox}`;
    this.recordPrefix = `${base}:record:`;
    this.dueKey = `${base}:due`;
    this.parkedKey = `${base}:parked`;
    redis.defineCommand('outboxStore', { numberOfKeys: 2, lua: STORE });
    redis.defineCommand('outboxClaim', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('outboxRemove', { numberOfKeys: 1, lua: REMOVE });
    redis.defineCommand('outboxRelease', { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand('outboxFail', { numberOfKeys: 2, lua: FAIL });
    redis.defineCommand('outboxUnpark', { numberOfKeys: 2, lua: UNPARK });
    this.redis = redis as OutboxRedis;
  }

  /**
   * Durably records a message for replay, due at once (or `delayMs` later, by the Redis server's clock);
   * idempotent by message id. Rejects if Redis cannot take it, or if fewer replicas than
   * REDIS_MIN_REPLICA_ACKS acknowledged it (ReplicaAckShortfallError): then it is not durable enough
   * to answer 202 for.
   */
  async store(message: WireMessage, reason: string, delayMs = 0): Promise<void> {
    await this.redis.outboxStore(
      this.recordPrefix + message.id,
      this.dueKey,
      message.id,
      message.body.toString('utf8'),
      message.type,
      message.correlationId ?? '',
      reason,
      Math.max(0, Math.round(delayMs)),
      message.trace ? JSON.stringify(message.trace) : '',
    );
    await this.replicaAcks?.confirm();
  }

  /**
   * Atomically leases up to `limit` due messages for `leaseMs`. The answer is read as Buffers, so a
   * body goes from Redis to the broker as the bytes it was stored as, never decoded and encoded again;
   * the bodies of one claim are slices of one buffer (see CLAIM).
   */
  async claimDue(limit: number, leaseMs: number): Promise<OutboxEntry[]> {
    const reply = await this.redis.outboxClaimBuffer(this.dueKey, leaseMs, limit, this.recordPrefix);
    if (reply.length < 2) return [];
    const rows = JSON.parse(reply[0].toString('utf8')) as ClaimedRow[];
    const bodies = reply[1];
    const entries: OutboxEntry[] = new Array<OutboxEntry>(rows.length);
    let offset = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      const end = offset + row[8];
      entries[i] = toEntry(row[0], row as unknown as (string | null)[], bodies.subarray(offset, end));
      offset = end;
    }
    return entries;
  }

  async remove(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.outboxRemove(this.dueKey, this.recordPrefix, ...ids);
  }

  /** Gives claimed messages back, due at once, before their lease ends; nothing is counted (see RELEASE). */
  async release(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.outboxRelease(this.dueKey, ...ids);
  }

  /** Records failed replays (only those that count increment the attempts); returns how many were parked. */
  async recordFailures(failures: OutboxFailure[], limits: OutboxLimits): Promise<number> {
    if (failures.length === 0) return 0;
    const args = failures.flatMap((f) => [f.id, Math.max(0, Math.round(f.delayMs)), f.counts ? 1 : 0, f.error.slice(0, 500)]);
    return this.redis.outboxFail(this.dueKey, this.parkedKey, this.recordPrefix, limits.maxAttempts, limits.maxAgeMs, ...args);
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
    for (const id of ids) pipeline.hmget(this.recordPrefix + id, ...CLAIMED_FIELDS);
    const rows = ((await pipeline.exec()) ?? []) as [unknown, (string | null)[]][];
    return ids.flatMap((id, i) => (rows[i][1][0] === null ? [] : [toEntry(id, rows[i][1])]));
  }

  /** One message by id and whether it waits or is parked; undefined when the outbox does not hold it. */
  async find(id: string): Promise<{ state: 'pending' | 'parked'; entry: OutboxEntry } | undefined> {
    const replies =
      (await this.redis
        .multi()
        .zscore(this.parkedKey, id)
        .hmget(this.recordPrefix + id, ...CLAIMED_FIELDS)
        .exec()) ?? [];
    const [parked, fields] = replies.map(([, value]) => value) as [string | null, (string | null)[]];
    return fields[0] === null ? undefined : { state: parked === null ? 'pending' : 'parked', entry: toEntry(id, fields) };
  }
}

/** One record of a claim's answer: its id, the CLAIMED_FIELDS after the body, the body's length in bytes. */
type ClaimedRow = [
  id: string,
  type: string,
  correlationId: string,
  storedAt: string,
  attempts: string,
  deferrals: string,
  lastError: string,
  trace: string,
  bodyBytes: number,
];

/**
 * A record's fields, in CLAIMED_FIELDS order, as an entry; `bodyBytes`, when given, is the body as read
 * (then the first field is not read: a claim's row holds the id there).
 */
function toEntry(
  id: string,
  [body, type, correlationId, storedAt, attempts, deferrals, lastError, trace]: (string | null)[],
  bodyBytes?: Buffer,
): OutboxEntry {
  return {
    id,
    type: type ?? '',
    body: bodyBytes ?? Buffer.from(body ?? '', 'utf8'),
    correlationId: correlationId || undefined,
    storedAt: Number(storedAt),
    attempts: Number(attempts),
    deferrals: Number(deferrals ?? 0),
    lastError: lastError || undefined,
    trace: traceOf(trace),
  };
}

/** The trace context stored with a record (a JSON object of strings), or undefined; a malformed one is dropped, never fatal. */
function traceOf(stored: string | null): Record<string, string> | undefined {
  if (!stored) return undefined;
  try {
    const parsed: unknown = JSON.parse(stored);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    const entries = Object.entries(parsed as Record<string, unknown>).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    );
    return entries.length > 0 ? Object.fromEntries(entries) : undefined;
  } catch {
    return undefined;
  }
}
