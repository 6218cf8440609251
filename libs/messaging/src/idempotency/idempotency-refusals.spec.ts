import type Redis from 'ioredis';
import { startOwnRedis, type OwnRedis } from '../../../../test/support/own-redis';
import { refusal, type RefusalCode } from '../../../../test/fault/redis-refusals';
import { waitFor } from '../../../../test/support/wait-for';
import { createRedisClient } from '../redis';
import { GuardHoldExpiredError, GuardStoppedError } from './guard-stopped-error';
import { IdempotencyGuard, type EffectMode, type GuardEvents } from './idempotency-guard';
import { IdempotencyStore } from './idempotency-store';
import { RedisEffect } from './redis-effect';

/**
 * The guard against a redis-server of this spec's own that refuses writes the ways production Redis
 * does (test/fault/redis-refusals.ts): every refusal holds the run (no RedisEffectError, nothing
 * written) until it is lifted, then the work lands once; past the hold bound the run gives up with an
 * error the failure router hands back.
 */
const STREAM = 'test:processed';
jest.setTimeout(30_000);
let server: OwnRedis;
let other: OwnRedis;
let admin: Redis;
let client: Redis;
let store: IdempotencyStore;
let failures: string[];
const events: GuardEvents = {
  redisFailure: (kind) => failures.push(kind),
  lockLost: () => undefined,
  handedBack: () => undefined,
};

const effect = (id: string) => () => Promise.resolve(RedisEffect.of(['XADD', STREAM, '*', 'id', id]));

beforeAll(async () => {
  [server, other] = await Promise.all([
    startOwnRedis({ label: 'guard-refusals' }),
    startOwnRedis({ label: 'guard-refusals-primary', args: ['--repl-diskless-sync-delay', '0'] }),
  ]);
  admin = server.client();
  client = createRedisClient(server.url(), 500, 'guard-refusals-spec');
  store = new IdempotencyStore(client, 'guard', 3600);
});

beforeEach(() => {
  failures = [];
});

afterAll(async () => {
  client?.disconnect();
  await Promise.all([server?.stop(), other?.stop()]);
});

describe.each(['OOM', 'MISCONF', 'NOREPLICAS', 'READONLY'] as RefusalCode[])(
  'IdempotencyGuard while Redis refuses writes with %s',
  (code) => {
    it.each(['atomic', 'exclusive'] as EffectMode[])(
      'holds a %s run, writes nothing, and lands the effect once the refusal is lifted',
      async (mode) => {
        const guard = new IdempotencyGuard(store, { lockTtlMs: 5000, maxWaitMs: 50, holdBoundMs: 60_000 }, events);
        const id = `${code}-${mode}`;
        const fault = refusal(code, admin, server, other);
        await fault.start();
        let settled = false;
        const run = guard.run(id, mode, effect(id)).finally(() => (settled = true));
        try {
          await waitFor(() => Promise.resolve(failures.length >= 5), { timeoutMs: 10_000, description: 'the guard to meet the refusal' });
          expect(settled).toBe(false);
          expect(failures).toContain(code);
          // READONLY also drops the connection (the client reconnects to find a primary): those failures count too.
          expect(failures.filter((kind) => kind !== code && !(code === 'READONLY' && kind === 'connection'))).toEqual([]);
          expect(await admin.exists(`guard:{${id}}:done`)).toBe(0);
        } finally {
          await fault.lift();
        }
        expect(await run).toBe('processed');
        const entries = await admin.xrange(STREAM, '-', '+');
        expect(entries.filter(([, fields]) => fields[1] === id)).toHaveLength(1);
        expect(await admin.exists(`guard:{${id}}:lock`)).toBe(0);
      },
    );
  },
);

describe('IdempotencyGuard hold bound', () => {
  it('gives up a run that waits for Redis at the bound with GuardHoldExpiredError, a GuardStoppedError', async () => {
    const handedBack: string[] = [];
    const guard = new IdempotencyGuard(
      store,
      { lockTtlMs: 5000, maxWaitMs: 50, holdBoundMs: 400 },
      { ...events, handedBack: (r) => handedBack.push(r) },
    );
    const fault = refusal('NOREPLICAS', admin, server);
    await fault.start();
    try {
      const started = performance.now();
      const error = await guard.run('held-1', 'atomic', effect('held-1')).catch((e: unknown) => e);
      const heldMs = performance.now() - started;
      expect(error).toBeInstanceOf(GuardHoldExpiredError);
      expect(error).toBeInstanceOf(GuardStoppedError);
      expect((error as GuardHoldExpiredError).messageId).toBe('held-1');
      expect(heldMs).toBeGreaterThanOrEqual(400);
      expect(heldMs).toBeLessThan(400 + 500 + 1000); // one command timeout past the bound, and slack for a busy machine
      expect(handedBack).toEqual(['hold_bound']);
    } finally {
      await fault.lift();
    }
    expect(await store.isDone('held-1')).toBe(false);
  });

  it('counts a wait for another delivery’s lock towards the bound', async () => {
    const guard = new IdempotencyGuard(store, { lockTtlMs: 5000, maxWaitMs: 50, holdBoundMs: 300 }, events);
    expect(await store.claim('locked-1', 'another-delivery', 60_000)).toBe('acquired');
    const work = jest.fn(effect('locked-1'));
    const started = performance.now();
    const error = await guard.run('locked-1', 'exclusive', work).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GuardHoldExpiredError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect(work).not.toHaveBeenCalled();
    expect(await admin.get('guard:{locked-1}:lock')).toBe('another-delivery');
  });
});
