import Redis from 'ioredis';
import { reserveRedisDatabase } from '../../../../test/support/test-env';
import type { WireMessage } from '../envelope';
import { OutboxStore } from './outbox-store';

/** Runs against the real Redis, in a database reserved for this suite (test/support/test-env.ts), flushed before each test. */
const PREFIX = 'test';
const LEASE = 30_000;
const LIMITS = { maxAttempts: 3, maxAgeMs: 60_000 };
const T0 = 1_700_000_000_000;

let redis: Redis;
let redisUrl: string;
let releaseDb: () => Promise<void>;
let store: OutboxStore;

function message(id: string, correlationId?: string): WireMessage {
  return { id, type: 'order.created', body: Buffer.from(JSON.stringify({ id, payload: { n: id } })), correlationId };
}

beforeAll(async () => {
  const reserved = await reserveRedisDatabase('outbox-store');
  releaseDb = reserved.release;
  redisUrl = reserved.url;
  redis = reserved.redis;
});

beforeEach(async () => {
  await redis.flushdb();
  store = new OutboxStore(redis, PREFIX);
});

afterAll(async () => {
  await releaseDb?.();
});

describe('OutboxStore.store', () => {
  it('keeps the first write of an id, and its attempt count', async () => {
    await store.store(message('m-1', 'corr-1'), 'confirm timeout', T0);
    await store.recordFailures([{ id: 'm-1', nextAttemptAt: T0, error: 'broker down' }], LIMITS, T0);

    await store.store({ ...message('m-1'), body: Buffer.from('second body'), type: 'other.type' }, 'again', T0 + 5);

    const [entry] = await store.claimDue(10, LEASE, T0 + 10);
    expect(entry.id).toBe('m-1');
    expect(entry.attempts).toBe(1);
    expect(entry.type).toBe('order.created');
    expect(entry.body.toString()).toBe(message('m-1').body.toString());
    expect(entry.correlationId).toBe('corr-1');
    expect(entry.storedAt).toBe(T0);
    expect(await store.counts()).toEqual({ pending: 1, parked: 0 });
  });

  it('puts the message in line immediately, keyed in the {outbox} slot', async () => {
    await store.store(message('m-1'), 'nack', T0);
    expect(await redis.zscore('test:{outbox}:due', 'm-1')).toBe(String(T0));
    expect(await redis.hget('test:{outbox}:record:m-1', 'lastError')).toBe('nack');
  });
});

describe('OutboxStore.claimDue', () => {
  it('returns due entries with body, type, correlation id, storedAt, attempts and last error', async () => {
    await store.store(message('m-1', 'corr-1'), 'confirm timeout', T0);
    await store.store(message('m-2'), 'nack', T0 + 1);

    const entries = await store.claimDue(10, LEASE, T0 + 100);
    expect(entries).toEqual([
      {
        id: 'm-1',
        type: 'order.created',
        body: message('m-1').body,
        correlationId: 'corr-1',
        storedAt: T0,
        attempts: 0,
        lastError: 'confirm timeout',
      },
      {
        id: 'm-2',
        type: 'order.created',
        body: message('m-2').body,
        correlationId: undefined,
        storedAt: T0 + 1,
        attempts: 0,
        lastError: 'nack',
      },
    ]);
  });

  it('does not return entries that are not due yet', async () => {
    await store.store(message('m-1'), 'x', T0 + 1000);
    expect(await store.claimDue(10, LEASE, T0)).toEqual([]);
    expect((await store.claimDue(10, LEASE, T0 + 1000)).map((e) => e.id)).toEqual(['m-1']);
  });

  it('hides claimed entries for the lease, and hands them out again after it', async () => {
    await store.store(message('m-1'), 'x', T0);
    await store.store(message('m-2'), 'x', T0);

    expect(await store.claimDue(10, LEASE, T0)).toHaveLength(2);
    expect(await store.claimDue(10, LEASE, T0 + 1)).toEqual([]);
    expect(await store.claimDue(10, LEASE, T0 + LEASE - 1)).toEqual([]);

    const again = await store.claimDue(10, LEASE, T0 + LEASE + 1);
    expect(again.map((e) => e.id).sort()).toEqual(['m-1', 'm-2']);
    expect(await store.counts()).toEqual({ pending: 2, parked: 0 });
  });

  it('claims at most `limit`, oldest due first', async () => {
    for (let i = 0; i < 5; i++) await store.store(message(`m-${i}`), 'x', T0 + i);
    expect((await store.claimDue(2, LEASE, T0 + 10)).map((e) => e.id)).toEqual(['m-0', 'm-1']);
    expect((await store.claimDue(2, LEASE, T0 + 10)).map((e) => e.id)).toEqual(['m-2', 'm-3']);
    expect((await store.claimDue(2, LEASE, T0 + 10)).map((e) => e.id)).toEqual(['m-4']);
  });

  it('drops a due id whose record is gone instead of returning it', async () => {
    await store.store(message('m-1'), 'x', T0);
    await redis.del('test:{outbox}:record:m-1');
    expect(await store.claimDue(10, LEASE, T0)).toEqual([]);
    expect(await store.counts()).toEqual({ pending: 0, parked: 0 });
  });

  it('never hands one id to two of 50 concurrent claimers while the lease holds', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `c-${i}`);
    await Promise.all(ids.map((id, i) => store.store(message(id), 'x', T0 + i)));

    // A second connection as well, so the claims really interleave on the server.
    const other = new Redis(redisUrl);
    try {
      const otherStore = new OutboxStore(other, PREFIX);
      const now = T0 + 1000;
      const batches = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? store : otherStore).claimDue(7, LEASE, now)));
      const claimed = batches.flat().map((e) => e.id);
      expect(claimed).toHaveLength(200);
      expect(new Set(claimed).size).toBe(200);
      expect(new Set(claimed)).toEqual(new Set(ids));
      expect(await store.claimDue(500, LEASE, now + 1)).toEqual([]);
    } finally {
      await other.quit();
    }
  });
});

describe('OutboxStore.remove', () => {
  it('deletes records and their place in line', async () => {
    await store.store(message('m-1'), 'x', T0);
    await store.store(message('m-2'), 'x', T0);
    await store.remove(['m-1']);

    expect(await redis.exists('test:{outbox}:record:m-1')).toBe(0);
    expect(await store.counts()).toEqual({ pending: 1, parked: 0 });
    expect((await store.claimDue(10, LEASE, T0 + LEASE * 10)).map((e) => e.id)).toEqual(['m-2']);
  });

  it('accepts an empty list and unknown ids', async () => {
    await store.store(message('m-1'), 'x', T0);
    await store.remove([]);
    await store.remove(['nope']);
    expect(await store.counts()).toEqual({ pending: 1, parked: 0 });
  });

  it('lets the same id be stored again afterwards', async () => {
    await store.store(message('m-1'), 'x', T0);
    await store.recordFailures([{ id: 'm-1', nextAttemptAt: T0, error: 'e' }], LIMITS, T0);
    await store.remove(['m-1']);
    await store.store(message('m-1'), 'y', T0 + 5);
    const [entry] = await store.claimDue(10, LEASE, T0 + 5);
    expect(entry).toMatchObject({ id: 'm-1', attempts: 0, storedAt: T0 + 5, lastError: 'y' });
  });
});

describe('OutboxStore.recordFailures', () => {
  it('reschedules: not due before nextAttemptAt, due from it, with attempts and last error updated', async () => {
    await store.store(message('m-1'), 'x', T0);
    await store.claimDue(10, LEASE, T0);

    const parked = await store.recordFailures([{ id: 'm-1', nextAttemptAt: T0 + 5000, error: 'nack from broker' }], LIMITS, T0 + 10);
    expect(parked).toBe(0);

    expect(await store.claimDue(10, LEASE, T0 + 4999)).toEqual([]);
    const [entry] = await store.claimDue(10, LEASE, T0 + 5000);
    expect(entry).toMatchObject({ id: 'm-1', attempts: 1, lastError: 'nack from broker' });
  });

  it('reschedules earlier than a running lease', async () => {
    await store.store(message('m-1'), 'x', T0);
    await store.claimDue(10, LEASE, T0);
    await store.recordFailures([{ id: 'm-1', nextAttemptAt: T0 + 100, error: 'e' }], LIMITS, T0 + 10);
    expect(await store.claimDue(10, LEASE, T0 + 100)).toHaveLength(1);
  });

  it('counts attempts and parks at maxAttempts', async () => {
    await store.store(message('m-1'), 'x', T0);
    const fail = (now: number) => store.recordFailures([{ id: 'm-1', nextAttemptAt: now, error: `fail at ${now}` }], LIMITS, now);

    expect(await fail(T0 + 1)).toBe(0);
    expect(await fail(T0 + 2)).toBe(0);
    expect(await store.counts()).toEqual({ pending: 1, parked: 0 });
    expect(await fail(T0 + 3)).toBe(1);

    expect(await store.counts()).toEqual({ pending: 0, parked: 1 });
    expect(await store.claimDue(10, LEASE, T0 + 10 * LEASE)).toEqual([]);
    const [parked] = await store.list('parked');
    expect(parked).toMatchObject({ id: 'm-1', attempts: 3, lastError: `fail at ${T0 + 3}` });
    expect(await redis.zscore('test:{outbox}:parked', 'm-1')).toBe(String(T0 + 3));
  });

  it('parks a message older than maxAge on its first failure', async () => {
    await store.store(message('old'), 'x', T0);
    await store.store(message('young'), 'x', T0 + 30_000);
    const now = T0 + LIMITS.maxAgeMs;
    const parked = await store.recordFailures(
      [
        { id: 'old', nextAttemptAt: now + 1000, error: 'e' },
        { id: 'young', nextAttemptAt: now + 1000, error: 'e' },
      ],
      LIMITS,
      now,
    );
    expect(parked).toBe(1);
    expect((await store.list('parked')).map((e) => e.id)).toEqual(['old']);
    expect((await store.list('pending')).map((e) => e.id)).toEqual(['young']);
  });

  it('does not park just below maxAge', async () => {
    await store.store(message('m-1'), 'x', T0);
    expect(await store.recordFailures([{ id: 'm-1', nextAttemptAt: T0, error: 'e' }], LIMITS, T0 + LIMITS.maxAgeMs - 1)).toBe(0);
  });

  it('truncates the stored error to 500 characters', async () => {
    await store.store(message('m-1'), 'x', T0);
    await store.recordFailures([{ id: 'm-1', nextAttemptAt: T0, error: 'e'.repeat(2000) }], LIMITS, T0);
    const [entry] = await store.list('pending');
    expect(entry.lastError).toHaveLength(500);
  });

  it('ignores failures of ids that were removed meanwhile, and an empty list', async () => {
    await store.store(message('m-1'), 'x', T0);
    await store.remove(['m-1']);
    expect(await store.recordFailures([{ id: 'm-1', nextAttemptAt: T0, error: 'e' }], LIMITS, T0)).toBe(0);
    expect(await store.recordFailures([], LIMITS, T0)).toBe(0);
    expect(await store.counts()).toEqual({ pending: 0, parked: 0 });
    expect(await redis.exists('test:{outbox}:record:m-1')).toBe(0);
  });
});

describe('OutboxStore.counts and list', () => {
  it('counts pending and parked', async () => {
    expect(await store.counts()).toEqual({ pending: 0, parked: 0 });
    for (const id of ['a', 'b', 'c']) await store.store(message(id), 'x', T0);
    await store.recordFailures([{ id: 'b', nextAttemptAt: T0, error: 'e' }], { maxAttempts: 1, maxAgeMs: 60_000 }, T0);
    expect(await store.counts()).toEqual({ pending: 2, parked: 1 });
  });

  it('lists pending messages oldest first, with limit and offset', async () => {
    for (let i = 0; i < 5; i++) await store.store(message(`m-${i}`, `corr-${i}`), `reason-${i}`, T0 + i);
    const all = await store.list('pending');
    expect(all.map((e) => e.id)).toEqual(['m-0', 'm-1', 'm-2', 'm-3', 'm-4']);
    expect(all[2]).toEqual({
      id: 'm-2',
      type: 'order.created',
      body: message('m-2').body,
      correlationId: 'corr-2',
      storedAt: T0 + 2,
      attempts: 0,
      lastError: 'reason-2',
    });
    expect((await store.list('pending', 2, 1)).map((e) => e.id)).toEqual(['m-1', 'm-2']);
    expect(await store.list('pending', 10, 10)).toEqual([]);
    expect(await store.list('parked')).toEqual([]);
  });

  it('lists parked messages in the order they were parked', async () => {
    for (const id of ['a', 'b', 'c']) await store.store(message(id), 'x', T0);
    const once = { maxAttempts: 1, maxAgeMs: 60_000 };
    await store.recordFailures([{ id: 'c', nextAttemptAt: T0, error: 'e' }], once, T0 + 1);
    await store.recordFailures([{ id: 'a', nextAttemptAt: T0, error: 'e' }], once, T0 + 2);
    expect((await store.list('parked')).map((e) => e.id)).toEqual(['c', 'a']);
    expect((await store.list('pending')).map((e) => e.id)).toEqual(['b']);
  });
});

describe('OutboxStore.unpark', () => {
  const once = { maxAttempts: 1, maxAgeMs: 60_000 };
  const record = (id: string) => redis.hmget(`test:{outbox}:record:${id}`, 'attempts', 'storedAt');

  beforeEach(async () => {
    for (const id of ['a', 'b', 'c']) await store.store(message(id), 'x', T0);
    await store.recordFailures(
      ['a', 'b', 'c'].map((id) => ({ id, nextAttemptAt: T0, error: 'e' })),
      once,
      T0 + 1,
    );
  });

  /** The Redis server's clock, in ms, as the scripts read it. */
  async function serverNow(): Promise<number> {
    const [seconds, micros] = await redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  it('moves the given ids back in line with attempts and age reset, due at once on the Redis clock', async () => {
    const before = await serverNow();
    expect(await store.unpark({ ids: ['b', 'missing'] })).toBe(1);
    const after = await serverNow();
    expect(await store.counts()).toEqual({ pending: 1, parked: 2 });
    const due = Number(await redis.zscore('test:{outbox}:due', 'b'));
    expect(due).toBeGreaterThanOrEqual(before);
    expect(due).toBeLessThanOrEqual(after);
    const [attempts, storedAt] = await record('b');
    expect(attempts).toBe('0');
    expect(Number(storedAt)).toBe(due);
    expect(await redis.zscore('test:{outbox}:parked', 'b')).toBeNull();
  });

  it('moves every parked message back only for { all: true }', async () => {
    expect(await store.unpark({ all: true })).toBe(3);
    expect(await store.counts()).toEqual({ pending: 3, parked: 0 });
    for (const id of ['a', 'b', 'c']) expect((await record(id))[0]).toBe('0');
  });

  it('moves nothing for an empty list (never "all")', async () => {
    expect(await store.unpark({ ids: [] })).toBe(0);
    expect(await store.counts()).toEqual({ pending: 0, parked: 3 });
  });

  it('does nothing for ids that are not parked', async () => {
    await store.unpark({ all: true });
    expect(await store.unpark({ ids: ['a'] })).toBe(0);
    expect(await store.unpark({ all: true })).toBe(0);
    expect(await store.counts()).toEqual({ pending: 3, parked: 0 });
  });
});
