import Redis from 'ioredis';
import { reserveRedisDatabase } from '../../../../test/support/test-env';
import { waitFor } from '../../../../test/support/wait-for';
import type { WireMessage } from '../envelope';
import { OutboxStore } from './outbox-store';

/**
 * Runs against the real Redis, in a database reserved for this suite (test/support/test-env.ts),
 * flushed before each test. The store keeps time by the Redis server's clock, so the times asserted
 * here are read from the server (TIME) around each call. recordFailures has its own spec.
 */
const PREFIX = 'test';
const LEASE = 30_000;
const LIMITS = { maxAttempts: 3, maxAgeMs: 60_000 };
const HOUR = 3_600_000;

let redis: Redis;
let redisUrl: string;
let releaseDb: () => Promise<void>;
let store: OutboxStore;

function message(id: string, correlationId?: string): WireMessage {
  return { id, type: 'order.created', body: Buffer.from(JSON.stringify({ id, payload: { n: id } })), correlationId };
}

async function serverNow(client: Redis = redis): Promise<number> {
  const [seconds, micros] = await client.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** Runs `action` and returns the server's time just before and just after it. */
async function bracketed(action: () => Promise<unknown>): Promise<{ before: number; after: number }> {
  const before = await serverNow();
  await action();
  return { before, after: await serverNow() };
}

const dueAt = async (id: string) => Number(await redis.zscore('test:{outbox}:due', id));

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

afterEach(() => {
  jest.restoreAllMocks();
});

afterAll(async () => {
  await releaseDb?.();
});

describe('OutboxStore.store', () => {
  it('keeps the first write of an id, and its attempt count', async () => {
    await store.store(message('m-1', 'corr-1'), 'confirm timeout');
    await store.recordFailures([{ id: 'm-1', delayMs: 0, counts: true, error: 'nacked' }], LIMITS);
    const [first] = await store.list('pending');

    await store.store({ ...message('m-1'), body: Buffer.from('second body'), type: 'other.type' }, 'again');

    const [entry] = await store.claimDue(10, LEASE);
    expect(entry).toMatchObject({ id: 'm-1', attempts: 1, type: 'order.created', correlationId: 'corr-1', storedAt: first.storedAt });
    expect(entry.body.toString()).toBe(message('m-1').body.toString());
    expect(await store.counts()).toEqual({ pending: 1, parked: 0 });
  });

  it('stamps the message with the server clock and puts it in line at once, keyed in the {outbox} slot', async () => {
    const { before, after } = await bracketed(() => store.store(message('m-1'), 'nack'));
    const [entry] = await store.list('pending');
    expect(entry.storedAt).toBeGreaterThanOrEqual(before);
    expect(entry.storedAt).toBeLessThanOrEqual(after);
    expect(await dueAt('m-1')).toBe(entry.storedAt);
    expect(await redis.hget('test:{outbox}:record:m-1', 'lastError')).toBe('nack');
  });

  it('can store a message due later, by the server clock', async () => {
    const { before, after } = await bracketed(() => store.store(message('m-1'), 'x', HOUR));
    expect(await dueAt('m-1')).toBeGreaterThanOrEqual(before + HOUR);
    expect(await dueAt('m-1')).toBeLessThanOrEqual(after + HOUR);
    expect(await store.claimDue(10, LEASE)).toEqual([]);
  });
});

describe('OutboxStore.claimDue', () => {
  it('returns due entries with body, type, correlation id, storedAt, attempts, deferrals and last error', async () => {
    await store.store(message('m-1', 'corr-1'), 'confirm timeout');
    await store.store(message('m-2'), 'nack');
    const stored = await store.list('pending');

    const entries = await store.claimDue(10, LEASE);
    expect(entries).toEqual([
      {
        id: 'm-1',
        type: 'order.created',
        body: message('m-1').body,
        correlationId: 'corr-1',
        storedAt: stored[0].storedAt,
        attempts: 0,
        deferrals: 0,
        lastError: 'confirm timeout',
      },
      {
        id: 'm-2',
        type: 'order.created',
        body: message('m-2').body,
        correlationId: undefined,
        storedAt: stored[1].storedAt,
        attempts: 0,
        deferrals: 0,
        lastError: 'nack',
      },
    ]);
  });

  it('hides claimed entries until the end of the lease, by the server clock', async () => {
    await store.store(message('m-1'), 'x');
    await store.store(message('m-2'), 'x');

    const { before, after } = await bracketed(async () => expect(await store.claimDue(10, LEASE)).toHaveLength(2));
    for (const id of ['m-1', 'm-2']) {
      expect(await dueAt(id)).toBeGreaterThanOrEqual(before + LEASE);
      expect(await dueAt(id)).toBeLessThanOrEqual(after + LEASE);
    }
    expect(await store.claimDue(10, LEASE)).toEqual([]);
    expect(await store.counts()).toEqual({ pending: 2, parked: 0 });
  });

  it('hands a claimed entry out again once its lease is over', async () => {
    await store.store(message('m-1'), 'x');
    const claimedAt = await serverNow();
    expect(await store.claimDue(10, 300)).toHaveLength(1);
    const again = await waitFor(
      async () => {
        const claimed = await store.claimDue(10, 300);
        return claimed.length > 0 && claimed;
      },
      { timeoutMs: 5000, description: 'the lease to end' },
    );
    expect(again.map((e) => e.id)).toEqual(['m-1']);
    expect(await serverNow()).toBeGreaterThanOrEqual(claimedAt + 300);
  });

  it('claims at most `limit`, oldest due first', async () => {
    for (let i = 0; i < 5; i++) await store.store(message(`m-${i}`), 'x');
    expect((await store.claimDue(2, LEASE)).map((e) => e.id)).toEqual(['m-0', 'm-1']);
    expect((await store.claimDue(2, LEASE)).map((e) => e.id)).toEqual(['m-2', 'm-3']);
    expect((await store.claimDue(2, LEASE)).map((e) => e.id)).toEqual(['m-4']);
  });

  it('hands out each body as its bytes and each field as stored, whatever they hold (one reply per claim)', async () => {
    const odd = { id: 'ü-"1"\n/\\', type: 'order.created', body: Buffer.from('{"a":"é€😀","b":"\\n\\""}'), correlationId: 'c "ö"\t/' };
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    await store.store(odd, 'err "x"\n');
    await store.store({ ...message('m-2'), body: Buffer.alloc(0), trace }, 'x');
    // Both may be due in the same millisecond, and then come in the order of their ids: find them by id.
    const claimed = await store.claimDue(10, LEASE);
    const [first, second] = [odd.id, 'm-2'].map((id) => claimed.find((entry) => entry.id === id)!);
    expect(first).toMatchObject({ id: odd.id, correlationId: odd.correlationId, lastError: 'err "x"\n', trace: undefined });
    expect(first.body.equals(odd.body)).toBe(true);
    expect(second).toMatchObject({ id: 'm-2', trace });
    expect(second.body.length).toBe(0);
  });

  it('drops a due id whose record is gone instead of returning it', async () => {
    await store.store(message('m-1'), 'x');
    await redis.del('test:{outbox}:record:m-1');
    expect(await store.claimDue(10, LEASE)).toEqual([]);
    expect(await store.counts()).toEqual({ pending: 0, parked: 0 });
  });

  it('never hands one id to two of 50 concurrent claimers while the lease holds', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `c-${i}`);
    await Promise.all(ids.map((id) => store.store(message(id), 'x')));

    // A second connection as well, so the claims really interleave on the server.
    const other = new Redis(redisUrl);
    try {
      const otherStore = new OutboxStore(other, PREFIX);
      const batches = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? store : otherStore).claimDue(7, LEASE)));
      const claimed = batches.flat().map((e) => e.id);
      expect(claimed).toHaveLength(200);
      expect(new Set(claimed).size).toBe(200);
      expect(new Set(claimed)).toEqual(new Set(ids));
      expect(await store.claimDue(500, LEASE)).toEqual([]);
    } finally {
      await other.quit();
    }
  });
});

describe('producers whose clocks are skewed (only the Redis server clock counts)', () => {
  const skew = (ms: number) => {
    const realNow = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + ms);
  };

  it('a producer an hour behind takes a lease that the others respect', async () => {
    await store.store(message('m-1'), 'x');
    skew(-HOUR);
    const skewed = new OutboxStore(redis, PREFIX);
    expect(await skewed.claimDue(10, LEASE)).toHaveLength(1);
    jest.restoreAllMocks();
    expect(await store.claimDue(10, LEASE)).toEqual([]);
  });

  it('a producer an hour ahead neither steals a leased message nor stores one due an hour late', async () => {
    await store.store(message('leased'), 'x');
    expect(await store.claimDue(10, LEASE)).toHaveLength(1);
    skew(HOUR);
    const skewed = new OutboxStore(redis, PREFIX);
    expect(await skewed.claimDue(10, LEASE)).toEqual([]);
    await skewed.store(message('fresh'), 'x');
    jest.restoreAllMocks();
    expect((await store.claimDue(10, LEASE)).map((e) => e.id)).toEqual(['fresh']);
  });

  it('a producer an hour ahead does not park a fresh message by age, and dates what it stores by the server', async () => {
    skew(HOUR);
    const skewed = new OutboxStore(redis, PREFIX);
    const { before, after } = await bracketed(() => skewed.store(message('m-1'), 'x'));
    const parked = await skewed.recordFailures([{ id: 'm-1', delayMs: 0, counts: true, error: 'nacked' }], LIMITS);
    expect(parked).toBe(0);
    const [entry] = await skewed.list('pending');
    expect(entry).toMatchObject({ id: 'm-1', attempts: 1 });
    expect(entry.storedAt).toBeGreaterThanOrEqual(before);
    expect(entry.storedAt).toBeLessThanOrEqual(after);
  });
});

describe('OutboxStore.remove', () => {
  it('deletes records and their place in line', async () => {
    await store.store(message('m-1'), 'x');
    await store.store(message('m-2'), 'x');
    await store.remove(['m-1']);

    expect(await redis.exists('test:{outbox}:record:m-1')).toBe(0);
    expect(await store.counts()).toEqual({ pending: 1, parked: 0 });
    expect((await store.claimDue(10, LEASE)).map((e) => e.id)).toEqual(['m-2']);
  });

  it('accepts an empty list and unknown ids', async () => {
    await store.store(message('m-1'), 'x');
    await store.remove([]);
    await store.remove(['nope']);
    expect(await store.counts()).toEqual({ pending: 1, parked: 0 });
  });

  it('lets the same id be stored again afterwards', async () => {
    await store.store(message('m-1'), 'x');
    await store.recordFailures([{ id: 'm-1', delayMs: 0, counts: true, error: 'e' }], LIMITS);
    await store.remove(['m-1']);
    await store.store(message('m-1'), 'y');
    const [entry] = await store.claimDue(10, LEASE);
    expect(entry).toMatchObject({ id: 'm-1', attempts: 0, lastError: 'y' });
  });
});

describe('OutboxStore.release', () => {
  it('makes claimed entries due again at once, with nothing counted, and leaves removed ones out', async () => {
    for (const id of ['m-1', 'm-2', 'm-3']) await store.store(message(id), 'x');
    expect(await store.claimDue(10, LEASE)).toHaveLength(3);
    await store.remove(['m-3']);
    await store.release(['m-1', 'm-2', 'm-3']);
    const again = await store.claimDue(10, LEASE);
    expect(again.map((e) => [e.id, e.attempts, e.deferrals])).toEqual([
      ['m-1', 0, 0],
      ['m-2', 0, 0],
    ]);
    expect(await store.counts()).toEqual({ pending: 2, parked: 0 });
    await store.release([]);
  });
});

describe('OutboxStore.counts and list', () => {
  it('counts pending and parked', async () => {
    expect(await store.counts()).toEqual({ pending: 0, parked: 0 });
    for (const id of ['a', 'b', 'c']) await store.store(message(id), 'x');
    await store.recordFailures([{ id: 'b', delayMs: 0, counts: true, error: 'e' }], { maxAttempts: 1, maxAgeMs: 60_000 });
    expect(await store.counts()).toEqual({ pending: 2, parked: 1 });
  });

  it('lists pending messages oldest first, with limit and offset', async () => {
    for (let i = 0; i < 5; i++) await store.store(message(`m-${i}`, `corr-${i}`), `reason-${i}`, i);
    const all = await store.list('pending');
    expect(all.map((e) => e.id)).toEqual(['m-0', 'm-1', 'm-2', 'm-3', 'm-4']);
    expect(all[2]).toEqual({
      id: 'm-2',
      type: 'order.created',
      body: message('m-2').body,
      correlationId: 'corr-2',
      storedAt: expect.any(Number),
      attempts: 0,
      deferrals: 0,
      lastError: 'reason-2',
    });
    expect((await store.list('pending', 2, 1)).map((e) => e.id)).toEqual(['m-1', 'm-2']);
    expect(await store.list('pending', 10, 10)).toEqual([]);
    expect(await store.list('parked')).toEqual([]);
  });

  it('lists parked messages in the order they were parked', async () => {
    for (const id of ['a', 'b', 'c']) await store.store(message(id), 'x');
    const once = { maxAttempts: 1, maxAgeMs: 60_000 };
    await store.recordFailures([{ id: 'c', delayMs: 0, counts: true, error: 'e' }], once);
    const parkedC = await serverNow();
    // The next parking in a later millisecond of the server's clock (else ties sort by id).
    await waitFor(async () => (await serverNow()) > parkedC, { timeoutMs: 1000, description: 'the server clock to move on' });
    await store.recordFailures([{ id: 'a', delayMs: 0, counts: true, error: 'e' }], once);
    expect((await store.list('parked')).map((e) => e.id)).toEqual(['c', 'a']);
    expect((await store.list('pending')).map((e) => e.id)).toEqual(['b']);
  });
});

describe('OutboxStore.unpark', () => {
  const once = { maxAttempts: 1, maxAgeMs: 60_000 };
  const record = (id: string) => redis.hmget(`test:{outbox}:record:${id}`, 'attempts', 'storedAt');

  beforeEach(async () => {
    for (const id of ['a', 'b', 'c']) await store.store(message(id), 'x');
    await store.recordFailures(
      ['a', 'b', 'c'].map((id) => ({ id, delayMs: 0, counts: true, error: 'e' })),
      once,
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

  it('gives an unparked message a fresh attempt budget and no deferrals', async () => {
    await redis.hset('test:{outbox}:record:b', 'deferrals', 7);
    await store.unpark({ ids: ['b'] });
    expect((await redis.hget('test:{outbox}:record:b', 'deferrals')) ?? '0').toBe('0');
    expect(await store.recordFailures([{ id: 'b', delayMs: 0, counts: true, error: 'e' }], { maxAttempts: 2, maxAgeMs: 60_000 })).toBe(0);
    expect(await store.counts()).toEqual({ pending: 1, parked: 2 });
  });

  it('does nothing for ids that are not parked', async () => {
    await store.unpark({ all: true });
    expect(await store.unpark({ ids: ['a'] })).toBe(0);
    expect(await store.unpark({ all: true })).toBe(0);
    expect(await store.counts()).toEqual({ pending: 3, parked: 0 });
  });
});
