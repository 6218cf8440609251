import type Redis from 'ioredis';
import { reserveRedisDatabase } from '../../../../test/support/test-env';
import type { WireMessage } from '../envelope';
import { OutboxStore, type OutboxFailure } from './outbox-store';

/**
 * OutboxStore.recordFailures against the real Redis (a database reserved for this suite, flushed
 * before each test). Times are the Redis server's: read with TIME around each call; a record is made
 * "old" by moving its storedAt back on the server's clock.
 */
const PREFIX = 'test';
const LEASE = 30_000;
const LIMITS = { maxAttempts: 3, maxAgeMs: 60_000 };

let redis: Redis;
let releaseDb: () => Promise<void>;
let store: OutboxStore;

const message = (id: string): WireMessage => ({ id, type: 'order.created', body: Buffer.from(JSON.stringify({ id })) });
const counted = (id: string, delayMs = 0, error = 'nacked'): OutboxFailure => ({ id, delayMs, counts: true, error });
const deferred = (id: string, delayMs = 0, error = 'timeout'): OutboxFailure => ({ id, delayMs, counts: false, error });

async function serverNow(): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

const dueAt = async (id: string) => Number(await redis.zscore('test:{outbox}:due', id));
const ageBy = async (id: string, ms: number) => redis.hset(`test:{outbox}:record:${id}`, 'storedAt', (await serverNow()) - ms);

beforeAll(async () => {
  const reserved = await reserveRedisDatabase('outbox-failures');
  releaseDb = reserved.release;
  redis = reserved.redis;
});

beforeEach(async () => {
  await redis.flushdb();
  store = new OutboxStore(redis, PREFIX);
});

afterAll(async () => {
  await releaseDb?.();
});

describe('OutboxStore.recordFailures: failures of the message (nack, return)', () => {
  it('reschedules after the delay by the server clock, with attempts and last error updated', async () => {
    await store.store(message('m-1'), 'x');
    await store.claimDue(10, LEASE);

    const before = await serverNow();
    expect(await store.recordFailures([counted('m-1', 5000, 'nack from broker')], LIMITS)).toBe(0);
    const after = await serverNow();

    expect(await dueAt('m-1')).toBeGreaterThanOrEqual(before + 5000);
    expect(await dueAt('m-1')).toBeLessThanOrEqual(after + 5000);
    expect(await store.claimDue(10, LEASE)).toEqual([]);
    const [entry] = await store.list('pending');
    expect(entry).toMatchObject({ id: 'm-1', attempts: 1, deferrals: 0, lastError: 'nack from broker' });
  });

  it('reschedules earlier than a running lease', async () => {
    await store.store(message('m-1'), 'x');
    await store.claimDue(10, LEASE);
    await store.recordFailures([counted('m-1')], LIMITS);
    expect(await store.claimDue(10, LEASE)).toHaveLength(1);
  });

  it('counts attempts and parks at maxAttempts, dated by the server clock', async () => {
    await store.store(message('m-1'), 'x');
    expect(await store.recordFailures([counted('m-1', 0, 'fail 1')], LIMITS)).toBe(0);
    expect(await store.recordFailures([counted('m-1', 0, 'fail 2')], LIMITS)).toBe(0);
    expect(await store.counts()).toEqual({ pending: 1, parked: 0 });
    const before = await serverNow();
    expect(await store.recordFailures([counted('m-1', 0, 'fail 3')], LIMITS)).toBe(1);
    const after = await serverNow();

    expect(await store.counts()).toEqual({ pending: 0, parked: 1 });
    expect(await store.claimDue(10, LEASE)).toEqual([]);
    const [parked] = await store.list('parked');
    expect(parked).toMatchObject({ id: 'm-1', attempts: 3, lastError: 'fail 3' });
    const parkedAt = Number(await redis.zscore('test:{outbox}:parked', 'm-1'));
    expect(parkedAt).toBeGreaterThanOrEqual(before);
    expect(parkedAt).toBeLessThanOrEqual(after);
  });

  it('parks a message older than maxAge on its first failure, and not one just younger', async () => {
    await store.store(message('old'), 'x');
    await store.store(message('young'), 'x');
    await ageBy('old', LIMITS.maxAgeMs);
    await ageBy('young', LIMITS.maxAgeMs - 10_000);
    expect(await store.recordFailures([counted('old', 1000), counted('young', 1000)], LIMITS)).toBe(1);
    expect((await store.list('parked')).map((e) => e.id)).toEqual(['old']);
    expect((await store.list('pending')).map((e) => e.id)).toEqual(['young']);
  });
});

describe('OutboxStore.recordFailures: failures of the broker or the link (timeout, blocked, lost channel, backpressure)', () => {
  it('never counts them and never parks, however many and however old the message', async () => {
    await store.store(message('m-1'), 'x');
    await ageBy('m-1', 10 * LIMITS.maxAgeMs);
    for (let i = 0; i < 10; i++) expect(await store.recordFailures([deferred('m-1', 0, `timeout ${i}`)], LIMITS)).toBe(0);

    expect(await store.counts()).toEqual({ pending: 1, parked: 0 });
    const [entry] = await store.claimDue(10, LEASE);
    expect(entry).toMatchObject({ id: 'm-1', attempts: 0, deferrals: 10, lastError: 'timeout 9' });
  });

  it('reschedules after the delay, and a later failure of the message still counts from zero', async () => {
    await store.store(message('m-1'), 'x');
    const before = await serverNow();
    await store.recordFailures([deferred('m-1', 2000)], LIMITS);
    expect(await dueAt('m-1')).toBeGreaterThanOrEqual(before + 2000);
    await store.recordFailures([counted('m-1')], LIMITS);
    const [entry] = await store.list('pending');
    expect(entry).toMatchObject({ attempts: 1, deferrals: 1 });
  });
});

describe('OutboxStore.recordFailures: records that changed meanwhile', () => {
  it('truncates the stored error to 500 characters', async () => {
    await store.store(message('m-1'), 'x');
    await store.recordFailures([counted('m-1', 0, 'e'.repeat(2000))], LIMITS);
    const [entry] = await store.list('pending');
    expect(entry.lastError).toHaveLength(500);
  });

  it('ignores failures of ids that were removed meanwhile, and an empty list', async () => {
    await store.store(message('m-1'), 'x');
    await store.remove(['m-1']);
    expect(await store.recordFailures([counted('m-1')], LIMITS)).toBe(0);
    expect(await store.recordFailures([], LIMITS)).toBe(0);
    expect(await store.counts()).toEqual({ pending: 0, parked: 0 });
    expect(await redis.exists('test:{outbox}:record:m-1')).toBe(0);
  });

  it('leaves a record that another replayer parked meanwhile parked', async () => {
    await store.store(message('m-1'), 'x');
    expect(await store.recordFailures([counted('m-1')], { maxAttempts: 1, maxAgeMs: 60_000 })).toBe(1);
    expect(await store.recordFailures([deferred('m-1'), counted('m-1')], LIMITS)).toBe(0);
    expect(await store.counts()).toEqual({ pending: 0, parked: 1 });
    expect((await store.list('parked'))[0]).toMatchObject({ attempts: 1, deferrals: 0 });
  });
});
