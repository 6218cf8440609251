import type Redis from 'ioredis';
import { startOwnRedis, type OwnRedis } from '../../../../test/support/own-redis';
import { FaultProxy } from '../../../../test/support/fault-proxy';
import { waitFor } from '../../../../test/support/wait-for';
import { createRedisClient } from '../redis';
import { GuardLockLostError, GuardStoppedError } from './guard-stopped-error';
import { IdempotencyGuard, type GuardEvents } from './idempotency-guard';
import { IdempotencyStore } from './idempotency-store';
import { RedisEffect } from './redis-effect';

/**
 * The exclusive guard's lock (issue 10, item 6): renewed from the claim until the done mark is
 * written, a loss is reported, COMPLETE is fenced by the token so two runs never both commit; and
 * what remains: a lock that expires while Redis is unreachable longer than its TTL lets a second
 * delivery run the outside effect again (its RedisEffect still lands once).
 */
jest.setTimeout(30_000);
const STREAM = 'test:processed';
const LOCK_TTL_MS = 300;
let server: OwnRedis;
let redis: Redis;
let store: IdempotencyStore;
let lost: string[];
let handedBack: string[];
const events: GuardEvents = {
  redisFailure: () => undefined,
  lockLost: (stage) => lost.push(stage),
  handedBack: (reason) => handedBack.push(reason),
};
const timing = { lockTtlMs: LOCK_TTL_MS, maxWaitMs: 50, holdBoundMs: 60_000 };

interface Gate {
  open: () => void;
  opened: Promise<void>;
}
function gate(): Gate {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** Work with an outside effect (a counter here) that waits for `until` before returning its RedisEffect. */
function outsideWork(id: string, effects: { count: number }, until: Promise<void>, started?: () => void) {
  return async () => {
    effects.count++;
    started?.();
    await until;
    return RedisEffect.of(['XADD', STREAM, '*', 'id', id]);
  };
}

const entriesOf = async (id: string) => (await redis.xrange(STREAM, '-', '+')).filter(([, fields]) => fields[1] === id).length;

beforeAll(async () => {
  server = await startOwnRedis({ label: 'guard-lock' });
  redis = server.client();
  store = new IdempotencyStore(redis, 'guard', 3600);
});

beforeEach(async () => {
  await redis.flushdb();
  lost = [];
  handedBack = [];
});

afterEach(() => jest.restoreAllMocks());

afterAll(async () => {
  await server?.stop();
});

describe('IdempotencyGuard exclusive lock', () => {
  it('keeps renewing while writing the done mark is retried', async () => {
    // A short hold bound: a guard that stopped renewing fails here rather than waiting forever.
    const guard = new IdempotencyGuard(store, { ...timing, holdBoundMs: 5000 }, events);
    const complete = store.complete.bind(store);
    const renew = jest.spyOn(store, 'renew');
    let renewalsWhileCompleting = 0;
    jest.spyOn(store, 'complete').mockImplementation(async (...args) => {
      // Redis "drops" complete until the lock was renewed three times since the work ended.
      if (renewalsWhileCompleting === 0) renewalsWhileCompleting = renew.mock.calls.length;
      if (renew.mock.calls.length < renewalsWhileCompleting + 3) throw new Error('Connection is closed.');
      expect(await redis.get('guard:{m-1}:lock')).toBe(args[1]);
      return complete(...args);
    });
    expect(await guard.run('m-1', 'exclusive', outsideWork('m-1', { count: 0 }, Promise.resolve()))).toBe('processed');
    expect(renew.mock.calls.length).toBeGreaterThanOrEqual(renewalsWhileCompleting + 3);
    expect(lost).toEqual([]);
    expect(await redis.exists('guard:{m-1}:lock')).toBe(0);
  });

  it('takes back a lock that expired with no one holding it, reports the loss, and commits', async () => {
    const guard = new IdempotencyGuard(store, timing, events);
    const done = gate();
    const run = guard.run('m-1', 'exclusive', outsideWork('m-1', { count: 0 }, done.opened));
    await waitFor(async () => (await redis.exists('guard:{m-1}:lock')) === 1, { timeoutMs: 5000, description: 'the lock' });
    await redis.del('guard:{m-1}:lock'); // as if it had expired
    await waitFor(() => Promise.resolve(lost.length > 0), { timeoutMs: 5000, description: 'the renewal to notice' });
    expect(lost).toEqual(['renewal']);
    expect(await redis.exists('guard:{m-1}:lock')).toBe(1);
    done.open();
    expect(await run).toBe('processed');
    expect(await entriesOf('m-1')).toBe(1);
  });

  it('does not commit when another delivery holds the lock at complete: hands the delivery back (GuardLockLostError)', async () => {
    const guard = new IdempotencyGuard(store, timing, events);
    const done = gate();
    const run = guard.run('m-1', 'exclusive', outsideWork('m-1', { count: 0 }, done.opened));
    await waitFor(async () => (await redis.exists('guard:{m-1}:lock')) === 1, { timeoutMs: 5000, description: 'the lock' });
    await redis.set('guard:{m-1}:lock', 'another-delivery', 'PX', 60_000);
    done.open();
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GuardLockLostError);
    expect(error).toBeInstanceOf(GuardStoppedError);
    expect(lost).toContain('complete');
    expect(handedBack).toEqual(['lock_lost']);
    expect(await store.isDone('m-1')).toBe(false);
    expect(await entriesOf('m-1')).toBe(0);
    expect(await redis.get('guard:{m-1}:lock')).toBe('another-delivery');
  });
});

describe('what remains: a lock that expires while Redis is unreachable longer than its TTL', () => {
  let proxy: FaultProxy;
  let cutOff: Redis;

  beforeEach(async () => {
    proxy = await FaultProxy.start(server.port);
    cutOff = createRedisClient(`redis://127.0.0.1:${proxy.port}`, 100, 'guard-lock-cut-off');
    await waitFor(() => Promise.resolve(cutOff.status === 'ready'), { timeoutMs: 5000, description: 'the proxied client' });
  });

  afterEach(async () => {
    cutOff.disconnect();
    await proxy.stop();
  });

  /** Delivery A claims through the proxy and starts its outside effect; the proxy is then cut off for good. */
  async function firstDeliveryCutOff(effects: { count: number }, finish: Promise<void>) {
    const guardA = new IdempotencyGuard(new IdempotencyStore(cutOff, 'guard', 3600), timing, events);
    const started = gate();
    const runA = guardA.run('m-1', 'exclusive', outsideWork('m-1', effects, finish, started.open));
    await started.opened;
    proxy.refuse();
    await waitFor(async () => (await redis.exists('guard:{m-1}:lock')) === 0, { timeoutMs: 5000, description: 'A’s lock to expire' });
    return { runA };
  }

  it('lets a second delivery run the outside effect again; the RedisEffect still lands once, the late run is a duplicate', async () => {
    const effects = { count: 0 };
    const finishA = gate();
    const { runA } = await firstDeliveryCutOff(effects, finishA.opened);

    const guardB = new IdempotencyGuard(store, timing, events);
    expect(await guardB.run('m-1', 'exclusive', outsideWork('m-1', effects, Promise.resolve()))).toBe('processed');

    proxy.accept();
    finishA.open();
    expect(await runA).toBe('duplicate');
    expect(effects.count).toBe(2); // the outside effect ran twice: the documented limit
    expect(await entriesOf('m-1')).toBe(1);
  });

  it('never lets both runs commit: the run that lost its lock to a running delivery is handed back', async () => {
    const effects = { count: 0 };
    const finishA = gate();
    const { runA } = await firstDeliveryCutOff(effects, finishA.opened);

    const guardB = new IdempotencyGuard(store, timing, events);
    const finishB = gate();
    const startedB = gate();
    const runB = guardB.run('m-1', 'exclusive', outsideWork('m-1', effects, finishB.opened, startedB.open));
    await startedB.opened;

    proxy.accept();
    finishA.open();
    expect(await runA.catch((e: unknown) => e)).toBeInstanceOf(GuardLockLostError);
    finishB.open();
    expect(await runB).toBe('processed');
    expect(effects.count).toBe(2);
    expect(await entriesOf('m-1')).toBe(1);
    // A's delivery, handed back and delivered again, is a duplicate.
    expect(await guardB.run('m-1', 'exclusive', outsideWork('m-1', effects, Promise.resolve()))).toBe('duplicate');
    expect(effects.count).toBe(2);
  });
});
