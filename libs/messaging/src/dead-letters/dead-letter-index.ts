import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { HEADERS } from '../envelope';
import { deadLetterRecordOf, type DeadLetterProperties, type DeadLetterRecord } from './dead-letter-record';
import { RECORD, REMOVE } from './dead-letter-index-scripts';

/** A group of dead letters of one DLQ: same failure kind, reason and message type. */
export interface DeadLetterGroup {
  queue: string;
  group: string;
  kind: string;
  reason: string;
  type: string;
  count: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

/** What the failure router knows of a failure when it dead-letters a delivery. */
export interface DeadLetterFailure {
  kind: string;
  reason: string;
  failedAt: string;
  attempts: number;
}

type IndexRedis = Redis & {
  deadLetterRecord(letters: string, groups: string, ...args: (string | number)[]): Promise<number>;
  deadLetterRemove(letters: string, groups: string, ...args: string[]): Promise<number>;
};

const RECORD_FIELDS = [
  'key',
  'messageId',
  'type',
  'correlationId',
  'kind',
  'reason',
  'groupReason',
  'failedAtMs',
  'attempts',
  'group',
] as const;

/**
 * An index of the dead letters of every DLQ, in Redis, so operators can count, group, list and search
 * them without taking a message out of its queue (a listing would hand every message back, and a
 * quorum queue counts each return). Written where a message is dead-lettered (the failure router),
 * removed where one leaves its DLQ (move-back, delete). Its writes follow the queue's, never lead
 * them; what a crash between the two leaves, or what the broker dead-letters by itself, a
 * reconciliation pass (dead-letter-reconciler.ts) brings into agreement.
 */
export class DeadLetterIndex {
  private readonly logger = new Logger(DeadLetterIndex.name);
  private readonly redis: IndexRedis;
  private readonly queuesKey: string;

  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
  ) {
    this.queuesKey = `${keyPrefix}:dlq-index:queues`;
    redis.defineCommand('deadLetterRecord', { numberOfKeys: 2, lua: RECORD });
    redis.defineCommand('deadLetterRemove', { numberOfKeys: 2, lua: REMOVE });
    this.redis = redis as IndexRedis;
  }

  /** The failure router's call, after the broker confirmed the DLQ copy: never fails the dead-lettering. */
  async recordDeadLettered(
    queue: string,
    delivery: { properties: DeadLetterProperties; content: Buffer },
    failure: DeadLetterFailure,
  ): Promise<void> {
    const headers = {
      ...(delivery.properties.headers ?? {}),
      [HEADERS.failureKind]: failure.kind,
      [HEADERS.failureReason]: failure.reason,
      [HEADERS.failedAt]: failure.failedAt,
      [HEADERS.failedAttempts]: failure.attempts,
    };
    try {
      await this.record(queue, deadLetterRecordOf({ ...delivery.properties, headers }, delivery.content));
    } catch (error) {
      // The message is in the DLQ; the next reconciliation indexes it.
      this.logger.warn({ queue, messageId: delivery.properties.messageId, error: (error as Error).message }, 'dead letter not indexed');
    }
  }

  async record(queue: string, record: DeadLetterRecord): Promise<void> {
    const { letters, groups, base } = this.keys(queue);
    const fields = Object.entries({ ...record }).flatMap(([name, value]) => (value === undefined ? [] : [name, String(value)]));
    await this.redis.sadd(this.queuesKey, queue);
    await this.redis.deadLetterRecord(
      letters,
      groups,
      base,
      record.key,
      record.failedAtMs,
      record.group,
      JSON.stringify([record.kind, record.groupReason, record.type]),
      record.correlationId ?? '',
      ...fields,
    );
  }

  /** Removes letters from the index (they left the queue); returns how many were indexed. */
  async remove(queue: string, keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const { letters, groups, base } = this.keys(queue);
    return this.redis.deadLetterRemove(letters, groups, base, ...keys);
  }

  /** Every DLQ the index has held a letter of, with `known` (the configured ones) first. */
  async queues(known: string[] = []): Promise<string[]> {
    const indexed = await this.redis.smembers(this.queuesKey);
    return [...new Set([...known, ...indexed.sort()])];
  }

  async count(queue: string): Promise<number> {
    return this.redis.zcard(this.keys(queue).letters);
  }

  /** The groups of one DLQ with their counts and first/last seen: one read per group, none per letter. */
  async groups(queue: string): Promise<DeadLetterGroup[]> {
    const { groups, base } = this.keys(queue);
    const infos = Object.entries(await this.redis.hgetall(groups));
    const pipeline = this.redis.pipeline();
    for (const [group] of infos) {
      const members = `${base}group:${group}`;
      pipeline.zcard(members).zrange(members, 0, 0, 'WITHSCORES').zrange(members, -1, -1, 'WITHSCORES');
    }
    const replies = ((await pipeline.exec()) ?? []).map(([, value]) => value);
    return infos
      .map(([group, info], i) => {
        const [kind, reason, type] = JSON.parse(info) as [string, string, string];
        const [first, last] = [replies[3 * i + 1] as string[], replies[3 * i + 2] as string[]];
        return {
          queue,
          group,
          kind,
          reason,
          type,
          count: replies[3 * i] as number,
          firstSeenMs: Number(first[1]),
          lastSeenMs: Number(last[1]),
        };
      })
      .filter((group) => group.count > 0)
      .sort((a, b) => b.lastSeenMs - a.lastSeenMs);
  }

  /** Letter keys of one group, oldest first (all of them without a limit). */
  async groupKeys(queue: string, group: string, offset = 0, limit = -1): Promise<string[]> {
    const stop = limit < 0 ? -1 : offset + limit - 1;
    return this.redis.zrange(`${this.keys(queue).base}group:${group}`, offset, stop);
  }

  /** Every indexed key of a DLQ with when it failed, read in pages (for reconciliation). */
  async allKeys(queue: string): Promise<Set<string>> {
    const keys = new Set<string>();
    const page = 5000;
    for (let offset = 0; ; offset += page) {
      const batch = await this.redis.zrange(this.keys(queue).letters, offset, offset + page - 1);
      for (const key of batch) keys.add(key);
      if (batch.length < page) return keys;
    }
  }

  /** Summaries (no headers, no body) of the given letters, in order; unknown keys are skipped. */
  async summaries(queue: string, keys: string[]): Promise<Omit<DeadLetterRecord, 'headers' | 'body'>[]> {
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.hmget(`${this.keys(queue).base}letter:${key}`, ...RECORD_FIELDS);
    const rows = ((await pipeline.exec()) ?? []).map(([, value]) => value as (string | null)[]);
    return rows.flatMap((row) => (row[0] === null ? [] : [toRecord(Object.fromEntries(RECORD_FIELDS.map((f, i) => [f, row[i]])))]));
  }

  async get(queue: string, key: string): Promise<DeadLetterRecord | undefined> {
    const hash = await this.redis.hgetall(`${this.keys(queue).base}letter:${key}`);
    return hash.key === undefined ? undefined : { ...toRecord(hash), headers: hash.headers ?? '{}', body: hash.body ?? '' };
  }

  /** Letter keys with this correlation id (at most `limit`). */
  async byCorrelationId(queue: string, correlationId: string, limit = 100): Promise<string[]> {
    return (await this.redis.smembers(`${this.keys(queue).base}corr:${correlationId}`)).slice(0, limit);
  }

  private keys(queue: string) {
    const base = `${this.keyPrefix}:{dlq:${queue}}:`;
    return { base, letters: `${base}letters`, groups: `${base}groups` };
  }
}

function toRecord(hash: Record<string, string | null | undefined>): Omit<DeadLetterRecord, 'headers' | 'body'> {
  return {
    key: hash.key ?? '',
    messageId: hash.messageId ?? undefined,
    type: hash.type ?? '',
    correlationId: hash.correlationId ?? undefined,
    kind: hash.kind ?? '',
    reason: hash.reason ?? '',
    groupReason: hash.groupReason ?? hash.reason ?? '',
    failedAtMs: Number(hash.failedAtMs),
    attempts: Number(hash.attempts),
    group: hash.group ?? '',
  };
}
