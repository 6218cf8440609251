import Redis from 'ioredis';
import { reserveRedisDatabase } from '../../../../test/support/test-env';
import { GuardStoppedError } from './guard-stopped-error';
import { IdempotencyGuard } from './idempotency-guard';
import { IdempotencyStore, type ClaimResult } from './idempotency-store';
import { RedisEffect } from './redis-effect';
import { RedisEffectError } from './redis-effect-error';

/** Runs against the real Redis, in a database reserved for this suite (test/support/test-env.ts), flushed before each test. */
const PREFIX = 'guard';
const STREAM = 'test:guard:processed';

let redis: Redis;
let releaseDb: () => Promise<void>;
let store: IdempotencyStore;
let guard: IdempotencyGuard;

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves when store.claim has answered `busy` for the given id (a run is now waiting). */
function whenBusy(id: string): Promise<void> {
  const seen = deferred();
  const original = store.claim.bind(store);
  jest.spyOn(store, 'claim').mockImplementation(async (claimId: string, token: string, ttl: number): Promise<ClaimResult> => {
    const result = await original(claimId, token, ttl);
    if (claimId === id && result === 'busy') seen.resolve();
    return result;
  });
  return seen.promise;
}

const effect = (id: string) => RedisEffect.of(['XADD', STREAM, '*', 'id', id]);
/** A work function that resolves at once with the effect for `id`. */
const effectOf = (id: string) => () => Promise.resolve(effect(id));

beforeAll(async () => {
  const reserved = await reserveRedisDatabase('idempotency-guard');
  releaseDb = reserved.release;
  redis = reserved.redis;
});

beforeEach(async () => {
  await redis.flushdb();
  store = new IdempotencyStore(redis, PREFIX, 3600);
  guard = new IdempotencyGuard(store, { lockTtlMs: 5000, maxWaitMs: 100, holdBoundMs: 60_000 });
});

afterEach(() => {
  guard.stop(); // ends any wait a failed test left behind
  jest.restoreAllMocks();
});

afterAll(async () => {
  await releaseDb?.();
});

describe("IdempotencyGuard.run in 'atomic' mode", () => {
  it('runs the work and lands its effect once; a second run is a duplicate', async () => {
    const work = jest.fn(effectOf('m-1'));

    expect(await guard.run('m-1', 'atomic', work)).toBe('processed');
    expect(await guard.run('m-1', 'atomic', work)).toBe('duplicate');

    expect(await redis.xlen(STREAM)).toBe(1);
    expect(await store.isDone('m-1')).toBe(true);
  });

  it('marks done work that returns no effect', async () => {
    expect(await guard.run('m-1', 'atomic', () => Promise.resolve('not an effect'))).toBe('processed');
    expect(await store.isDone('m-1')).toBe(true);
    expect(await redis.exists(STREAM)).toBe(0);
  });

  it('lands one effect for many concurrent runs of one id', async () => {
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => guard.run('m-1', 'atomic', effectOf('m-1'))));
    expect(outcomes.filter((o) => o === 'processed')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(9);
    expect(await redis.xlen(STREAM)).toBe(1);
  });

  it('neither marks done nor applies anything when the work fails', async () => {
    await expect(guard.run('m-1', 'atomic', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await store.isDone('m-1')).toBe(false);
    expect(await guard.run('m-1', 'atomic', effectOf('m-1'))).toBe('processed');
    expect(await redis.xlen(STREAM)).toBe(1);
  });

  it('rejects at once with RedisEffectError when an effect command of the handler fails (a bad command)', async () => {
    const error = await guard.run('m-1', 'atomic', () => Promise.resolve(RedisEffect.of(['NOSUCHCOMMAND', 'x']))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisEffectError);
    expect((error as RedisEffectError).messageId).toBe('m-1');
    expect(await store.isDone('m-1')).toBe(false);
  });

  it('rejects with RedisEffectError for a WRONGTYPE of the effect, and writes no done mark', async () => {
    await redis.set(STREAM, 'not a stream');
    const error = await guard.run('m-1', 'atomic', effectOf('m-1')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisEffectError);
    expect((error as RedisEffectError).reply).toMatch(/^WRONGTYPE /);
    expect(await store.isDone('m-1')).toBe(false);
  });
});

describe("IdempotencyGuard.run in 'exclusive' mode", () => {
  it('runs the work, lands its effect with the done mark and frees the lock', async () => {
    const work = jest.fn(effectOf('m-1'));
    expect(await guard.run('m-1', 'exclusive', work)).toBe('processed');
    expect(await guard.run('m-1', 'exclusive', work)).toBe('duplicate');
    expect(work).toHaveBeenCalledTimes(1);
    expect(await redis.xlen(STREAM)).toBe(1);
    expect(await redis.exists('guard:{m-1}:lock')).toBe(0);
  });

  it('runs slow work of two concurrent deliveries once; the second is a duplicate only after the first completed', async () => {
    const events: string[] = [];
    const gate = deferred();
    const started = deferred();
    let executions = 0;
    const work = async () => {
      executions++;
      events.push('work started');
      started.resolve();
      await gate.promise;
      events.push('work finished');
      return effect('m-1');
    };

    const busy = whenBusy('m-1');
    const first = guard.run('m-1', 'exclusive', work).then((outcome) => (events.push(`first ${outcome}`), outcome));
    const second = guard.run('m-1', 'exclusive', work).then((outcome) => (events.push(`second ${outcome}`), outcome));

    // The first delivery is inside its work; the second found the id locked and is waiting.
    await Promise.all([busy, started.promise]);
    expect(events).toEqual(['work started']);

    gate.resolve();
    expect(await Promise.all([first, second])).toEqual(['processed', 'duplicate']);
    expect(executions).toBe(1);
    expect(events).toEqual(['work started', 'work finished', 'first processed', 'second duplicate']);
    expect(await redis.xlen(STREAM)).toBe(1);
  });

  it('releases the lock when the work fails, so a later run executes it', async () => {
    const failing = jest.fn(() => Promise.reject(new Error('handler failed')));
    await expect(guard.run('m-1', 'exclusive', failing)).rejects.toThrow('handler failed');
    expect(await redis.exists('guard:{m-1}:lock')).toBe(0);
    expect(await store.isDone('m-1')).toBe(false);

    const work = jest.fn(effectOf('m-1'));
    expect(await guard.run('m-1', 'exclusive', work)).toBe('processed');
    expect(work).toHaveBeenCalledTimes(1);
    expect(await redis.xlen(STREAM)).toBe(1);
  });

  it('lets a waiting run take over after a concurrent run failed', async () => {
    const gate = deferred();
    const busy = whenBusy('m-1');
    const first = guard.run('m-1', 'exclusive', async () => {
      await gate.promise;
      throw new Error('first failed');
    });
    const secondWork = jest.fn(effectOf('m-1'));
    const second = guard.run('m-1', 'exclusive', secondWork);

    await busy;
    gate.resolve();
    await expect(first).rejects.toThrow('first failed');
    expect(await second).toBe('processed');
    expect(secondWork).toHaveBeenCalledTimes(1);
    expect(await redis.xlen(STREAM)).toBe(1);
  });

  it('renews the lock while the work runs', async () => {
    const fast = new IdempotencyGuard(store, { lockTtlMs: 30, maxWaitMs: 100, holdBoundMs: 60_000 });
    const renewed = deferred();
    const original = store.renew.bind(store);
    jest.spyOn(store, 'renew').mockImplementation(async (...args: Parameters<IdempotencyStore['renew']>) => {
      const result = await original(...args);
      renewed.resolve();
      return result;
    });
    const outcome = await fast.run('m-1', 'exclusive', async () => {
      await renewed.promise;
      return effect('m-1');
    });
    expect(outcome).toBe('processed');
    expect(store.renew).toHaveBeenCalledWith('m-1', expect.any(String), 30);
  });
});

describe('IdempotencyGuard.stop', () => {
  it('makes a run that waits for another delivery’s lock reject with GuardStoppedError', async () => {
    expect(await store.claim('m-1', 'another-delivery', 5000)).toBe('acquired');
    const busy = whenBusy('m-1');
    const work = jest.fn(effectOf('m-1'));

    const waiting = guard.run('m-1', 'exclusive', work);
    await busy;
    guard.stop();

    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GuardStoppedError);
    expect((error as GuardStoppedError).messageId).toBe('m-1');
    expect((error as GuardStoppedError).name).toBe('GuardStoppedError');
    expect(work).not.toHaveBeenCalled();
    expect(await redis.get('guard:{m-1}:lock')).toBe('another-delivery');
    expect(await store.isDone('m-1')).toBe(false);
  });

  it('still lets an uncontended run through after stop', async () => {
    guard.stop();
    expect(await guard.run('m-2', 'exclusive', effectOf('m-2'))).toBe('processed');
  });
});
