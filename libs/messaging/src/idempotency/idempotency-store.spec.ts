import Redis from 'ioredis';
import { reserveRedisDatabase } from '../../../../test/support/test-env';
import { IdempotencyStore } from './idempotency-store';
import type { RedisCommand } from './redis-effect';

/** Runs against the real Redis, in a database reserved for this suite (test/support/test-env.ts), flushed before each test. */
const PREFIX = 'idem';
const TTL_SECONDS = 3600;
const STREAM = 'test:processed';

let redis: Redis;
let redisUrl: string;
let releaseDb: () => Promise<void>;
let store: IdempotencyStore;

const xadd = (id: string): RedisCommand => ['XADD', STREAM, '*', 'id', id];

beforeAll(async () => {
  const reserved = await reserveRedisDatabase('idempotency-store');
  releaseDb = reserved.release;
  redisUrl = reserved.url;
  redis = reserved.redis;
});

beforeEach(async () => {
  await redis.flushdb();
  store = new IdempotencyStore(redis, PREFIX, TTL_SECONDS);
});

afterAll(async () => {
  await releaseDb?.();
});

describe('IdempotencyStore.commit', () => {
  it('applies the commands and the done mark once', async () => {
    expect(await store.commit('m-1', [xadd('m-1'), ['INCR', 'test:counter']])).toBe(true);
    expect(await store.commit('m-1', [xadd('m-1'), ['INCR', 'test:counter']])).toBe(false);

    expect(await redis.xlen(STREAM)).toBe(1);
    expect(await redis.get('test:counter')).toBe('1');
    expect(await store.isDone('m-1')).toBe(true);
    const [[, fields]] = await redis.xrange(STREAM, '-', '+');
    expect(fields).toEqual(['id', 'm-1']);
  });

  it('writes a done mark that expires after the TTL', async () => {
    await store.commit('m-1', []);
    const ttl = await redis.ttl('idem:{m-1}:done');
    expect(ttl).toBeGreaterThan(TTL_SECONDS - 5);
    expect(ttl).toBeLessThanOrEqual(TTL_SECONDS);
  });

  it('keeps ids apart', async () => {
    expect(await store.commit('m-1', [xadd('m-1')])).toBe(true);
    expect(await store.commit('m-2', [xadd('m-2')])).toBe(true);
    expect(await redis.xlen(STREAM)).toBe(2);
    expect(await store.isDone('m-3')).toBe(false);
  });

  it('passes numeric arguments through', async () => {
    await store.commit('m-1', [['HSET', 'test:h', 'n', 42, 'f', 'x']]);
    expect(await redis.hgetall('test:h')).toEqual({ n: '42', f: 'x' });
  });

  it('lets exactly one of 20 concurrent commits of one id through', async () => {
    const others = Array.from({ length: 4 }, () => new Redis(redisUrl));
    try {
      const stores = [store, ...others.map((client) => new IdempotencyStore(client, PREFIX, TTL_SECONDS))];
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % stores.length].commit('m-1', [xadd('m-1')])));
      expect(results.filter((applied) => applied)).toHaveLength(1);
      expect(await redis.xlen(STREAM)).toBe(1);
    } finally {
      await Promise.all(others.map((client) => client.quit()));
    }
  });
});

describe('IdempotencyStore.claim / complete / release / renew', () => {
  it('gives the lock to one token: busy for another, re-entrant for the same', async () => {
    expect(await store.claim('m-1', 'A', 5000)).toBe('acquired');
    expect(await store.claim('m-1', 'B', 5000)).toBe('busy');
    expect(await store.claim('m-1', 'A', 5000)).toBe('acquired');
    expect(await redis.get('idem:{m-1}:lock')).toBe('A');
  });

  it('sets the lock TTL, and a re-entrant claim refreshes it', async () => {
    await store.claim('m-1', 'A', 2000);
    const first = await redis.pttl('idem:{m-1}:lock');
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(2000);
    await store.claim('m-1', 'A', 60_000);
    expect(await redis.pttl('idem:{m-1}:lock')).toBeGreaterThan(2000);
  });

  it('is done after complete: the effect applied once, the lock freed', async () => {
    await store.claim('m-1', 'A', 5000);
    expect(await store.complete('m-1', 'A', [xadd('m-1')])).toBe('applied');

    expect(await redis.exists('idem:{m-1}:lock')).toBe(0);
    expect(await store.isDone('m-1')).toBe(true);
    expect(await store.claim('m-1', 'B', 5000)).toBe('done');
    expect(await store.claim('m-1', 'A', 5000)).toBe('done');
    expect(await store.complete('m-1', 'A', [xadd('m-1')])).toBe('done');
    expect(await redis.xlen(STREAM)).toBe(1);
  });

  it('is fenced by the token: a complete while another token holds the lock writes nothing', async () => {
    await store.claim('m-1', 'A', 5000);
    expect(await store.complete('m-1', 'B', [xadd('m-1')])).toBe('taken');
    expect(await redis.get('idem:{m-1}:lock')).toBe('A');
    expect(await store.isDone('m-1')).toBe(false);
    expect(await redis.exists(STREAM)).toBe(0);
  });

  it('commits when the lock expired and no one took it', async () => {
    expect(await store.complete('m-1', 'A', [xadd('m-1')])).toBe('applied');
    expect(await store.isDone('m-1')).toBe(true);
    expect(await redis.xlen(STREAM)).toBe(1);
  });

  it('answers done for a complete after another token completed, and leaves the other lock alone', async () => {
    await store.claim('m-1', 'B', 5000);
    expect(await store.complete('m-1', 'B', [xadd('m-1')])).toBe('applied');
    await redis.set('idem:{m-1}:lock', 'C');
    expect(await store.complete('m-1', 'A', [xadd('m-1')])).toBe('done');
    expect(await redis.get('idem:{m-1}:lock')).toBe('C');
    expect(await redis.xlen(STREAM)).toBe(1);
  });

  it('frees the lock on release by its holder only', async () => {
    await store.claim('m-1', 'A', 5000);
    await store.release('m-1', 'B');
    expect(await store.claim('m-1', 'B', 5000)).toBe('busy');

    await store.release('m-1', 'A');
    expect(await redis.exists('idem:{m-1}:lock')).toBe(0);
    expect(await store.isDone('m-1')).toBe(false);
    expect(await store.claim('m-1', 'B', 5000)).toBe('acquired');
  });

  it('renews only for the holder: another token learns the lock is taken', async () => {
    await store.claim('m-1', 'A', 1000);
    expect(await store.renew('m-1', 'B', 60_000)).toBe('taken');
    expect(await redis.pttl('idem:{m-1}:lock')).toBeLessThanOrEqual(1000);
    expect(await store.renew('m-1', 'A', 60_000)).toBe('renewed');
    expect(await redis.pttl('idem:{m-1}:lock')).toBeGreaterThan(1000);
  });

  it('takes back an expired lock that no one took, with the TTL', async () => {
    expect(await store.renew('m-1', 'A', 5000)).toBe('reacquired');
    expect(await redis.get('idem:{m-1}:lock')).toBe('A');
    expect(await redis.pttl('idem:{m-1}:lock')).toBeGreaterThan(0);
  });

  it('answers done, and takes nothing, once the id is done', async () => {
    await store.claim('m-1', 'A', 5000);
    await store.complete('m-1', 'A', []);
    expect(await store.renew('m-1', 'A', 5000)).toBe('done');
    expect(await redis.exists('idem:{m-1}:lock')).toBe(0);
  });

  it('hands the lock to exactly one of many concurrent claimers', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.claim('m-1', `T${i}`, 5000)));
    expect(results.filter((r) => r === 'acquired')).toHaveLength(1);
    expect(results.filter((r) => r === 'busy')).toHaveLength(19);
  });
});
