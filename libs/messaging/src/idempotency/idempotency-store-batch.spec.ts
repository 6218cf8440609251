import type Redis from 'ioredis';
import { reserveRedisDatabase } from '../../../../test/support/test-env';
import { IdempotencyStore } from './idempotency-store';
import type { RedisCommand } from './redis-effect';
import { effectReplyOf } from './redis-effect-error';

/** Commits that share one script (IDEMPOTENCY_COMMIT_BATCH_SIZE), against the real Redis in a reserved database. */
const PREFIX = 'idem';
const STREAM = 'test:processed';
const xadd = (id: string): RedisCommand => ['XADD', STREAM, '*', 'id', id];

let redis: Redis;
let releaseDb: () => Promise<void>;

beforeAll(async () => {
  const reserved = await reserveRedisDatabase('idempotency-store-batch');
  releaseDb = reserved.release;
  redis = reserved.redis;
});

beforeEach(() => redis.flushdb());

afterAll(async () => {
  await releaseDb?.();
});

/** Counts the scripts the store sends (after a warm-up commit, so no NOSCRIPT resend is counted). */
function countingScripts(client: Redis): { count: () => number } {
  let scripts = 0;
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, ...rest) => {
    if (command.name.toLowerCase() === 'evalsha') scripts++;
    return send(command, ...rest);
  };
  return { count: () => scripts };
}

describe('IdempotencyStore.commit, batched', () => {
  it('commits those of one event-loop turn in one script, each effect once with its own mark', async () => {
    const client = redis.duplicate();
    try {
      const store = new IdempotencyStore(client, PREFIX, 3600, undefined, { maxSize: 100, flushMs: 0 });
      await store.commit('warm-up', []);
      const scripts = countingScripts(client);
      const ids = Array.from({ length: 40 }, (_, i) => `m-${i}`);
      const first = await Promise.all(ids.map((id) => store.commit(id, [xadd(id), ['INCR', `test:count:${id}`]])));
      const again = await Promise.all(ids.map((id) => store.commit(id, [xadd(id), ['INCR', `test:count:${id}`]])));
      expect(first.every((applied) => applied)).toBe(true);
      expect(again.some((applied) => applied)).toBe(false);
      expect(scripts.count()).toBe(2);
      expect(await redis.xlen(STREAM)).toBe(40);
      for (const id of ids) expect(await redis.get(`test:count:${id}`)).toBe('1');
      expect(await redis.ttl(`${PREFIX}:{m-7}:done`)).toBeGreaterThan(3590);
    } finally {
      client.disconnect();
    }
  });

  it('splits at the batch size', async () => {
    const client = redis.duplicate();
    try {
      const store = new IdempotencyStore(client, PREFIX, 3600, undefined, { maxSize: 8, flushMs: 0 });
      await store.commit('warm-up', []);
      const scripts = countingScripts(client);
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.commit(`m-${i}`, [xadd(`m-${i}`)])));
      expect(scripts.count()).toBe(3);
      expect(await redis.xlen(STREAM)).toBe(20);
    } finally {
      client.disconnect();
    }
  });

  it('fails only the commit whose effect was refused; the others of its batch land, and it can be committed later', async () => {
    await redis.set('test:not-a-stream', 'x');
    const store = new IdempotencyStore(redis, PREFIX, 3600, undefined, { maxSize: 100, flushMs: 0 });
    const results = await Promise.allSettled([
      store.commit('a', [xadd('a')]),
      store.commit('b', [['XADD', 'test:not-a-stream', '*', 'id', 'b']]),
      store.commit('c', [xadd('c')]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(effectReplyOf((results[1] as PromiseRejectedResult).reason)).toMatch(/^WRONGTYPE/);
    expect(await store.isDone('b')).toBe(false);
    expect(await redis.xlen(STREAM)).toBe(2);
    expect(await store.commit('b', [xadd('b')])).toBe(true);
  });

  it('mixes ids done already with new ones, and empty effects', async () => {
    const store = new IdempotencyStore(redis, PREFIX, 3600, undefined, { maxSize: 100, flushMs: 0 });
    await store.commit('old', [xadd('old')]);
    const results = await Promise.all([store.commit('old', [xadd('old')]), store.commit('new', []), store.commit('x', [xadd('x')])]);
    expect(results).toEqual([false, true, true]);
    expect(await redis.xlen(STREAM)).toBe(2);
  });

  it('applies an id that comes twice in one batch once (a redelivery beside the original)', async () => {
    const store = new IdempotencyStore(redis, PREFIX, 3600, undefined, { maxSize: 100, flushMs: 0 });
    await store.commit('warm-up', []);
    const results = await Promise.all([store.commit('twice', [xadd('twice')]), store.commit('twice', [xadd('twice')])]);
    expect(results).toEqual([true, false]);
    expect(await redis.xlen(STREAM)).toBe(1);
  });

  it('rejects every commit of a batch whose script failed for Redis (nothing written)', async () => {
    const client = redis.duplicate();
    const store = new IdempotencyStore(client, PREFIX, 3600, undefined, { maxSize: 100, flushMs: 0 });
    await client.ping();
    client.disconnect();
    const results = await Promise.allSettled(['a', 'b'].map((id) => store.commit(id, [xadd(id)])));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await redis.xlen(STREAM)).toBe(0);
  });
});
