/**
 * Issue 10, item 2: every key the library writes has bounded growth. A few hundred messages go through
 * the built producer and consumer by every path that writes Redis (published at once; stored in the
 * outbox while the broker is cut off, then replayed; retried after a handler failure; dead-lettered),
 * and once all is drained every key in the suite's Redis database either expires (a TTL) or is one of
 * the documented bounded structures:
 *   - messaging:processed, the reference handler's effect: one entry per processed message (the
 *     contract); an operator trims it (XTRIM), the done marks carry deduplication;
 *   - the outbox sorted sets, emptied once every message is replayed (Redis deletes an empty one);
 *   - parked outbox records (listed in the parked set), kept until an operator acts.
 */
import { startApp, stopAll, type AppProcess } from '../support/app-process';
import { FaultProxy } from '../support/fault-proxy';
import { postMessage } from '../support/http';
import { OUTBOX_DUE, OUTBOX_PARKED } from '../support/outbox-keys';
import { processedCounts } from '../support/processed';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';

const DONE_TTL_SECONDS = 3600;
const STREAM = 'messaging:processed';
const SETTINGS = {
  IDEMPOTENCY_TTL_SECONDS: String(DONE_TTL_SECONDS),
  // The dedup window must outlast the outbox's age limit (a settings consistency rule).
  OUTBOX_MAX_AGE_MS: '600000',
  CONSUMER_SIMULATED_FAILURES: 'on',
  CONSUMER_MAX_ATTEMPTS: '3',
  CONSUMER_RETRY_BASE_DELAY_MS: '100',
  CONSUMER_RETRY_MAX_DELAY_MS: '200',
  OUTBOX_REPLAY_INTERVAL_MS: '200',
  OUTBOX_BACKOFF_BASE_MS: '100',
  OUTBOX_BACKOFF_MAX_MS: '500',
  PUBLISH_CONFIRM_TIMEOUT_MS: '1000',
};

describe('Redis keys written by the library (bounded growth)', () => {
  let env: TestEnv;
  let amqpProxy: FaultProxy;
  let producer: AppProcess;

  beforeAll(async () => {
    env = await createTestEnv('key-growth');
    amqpProxy = await FaultProxy.start(env.amqpPort, env.amqpHost);
    producer = await startApp('producer', { ...appEnv(env, { amqpPort: amqpProxy.port }), ...SETTINGS }, { ready: true });
    await startApp('consumer', { ...appEnv(env), ...SETTINGS }, { ready: true });
  });

  afterAll(async () => {
    await stopAll();
    await amqpProxy?.stop();
    await env?.cleanup();
  });

  async function post(count: number, payload: (i: number) => Record<string, unknown> = (i) => ({ i })): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const response = await postMessage(producer.url(''), { type: 'keys.test', payload: payload(i) });
      expect(response.status).toBe(202);
      ids.push(response.body.id);
    }
    return ids;
  }

  it('leaves only keys with a TTL, the processed stream and what an operator must act on, after a few hundred messages', async () => {
    const published = await post(200);
    const retried = await post(20, (i) => ({ i, simulateFailure: { attempts: 1 } }));
    const deadLettered = await post(5, (i) => ({ i, simulateFailure: { always: true } }));
    amqpProxy.refuse();
    const replayed = await post(100);
    expect(await env.redis.zcard(OUTBOX_DUE)).toBeGreaterThan(0);
    amqpProxy.accept();

    const processed = [...published, ...retried, ...replayed];
    const connection = await env.amqp();
    const channel = await connection.createChannel();
    await waitFor(
      async () => {
        const counts = await processedCounts(env.redis);
        if (!processed.every((id) => counts.has(id))) return false;
        if ((await env.redis.zcard(OUTBOX_DUE)) > 0) return false;
        if ((await channel.checkQueue('messaging.consumer')).messageCount > 0) return false;
        return (await channel.checkQueue('messaging.consumer.dlq')).messageCount === deadLettered.length;
      },
      { timeoutMs: 60_000, intervalMs: 200, description: 'every message processed or dead-lettered, the outbox and the queue drained' },
    );
    await connection.close();

    const parked = new Set(await env.redis.zrange(OUTBOX_PARKED, 0, -1));
    const unbounded: string[] = [];
    const indexedLetters: string[] = [];
    let doneMarks = 0;
    for await (const keys of env.redis.scanStream({ count: 500 }) as AsyncIterable<string[]>) {
      for (const key of keys) {
        const ttl = await env.redis.ttl(key);
        if (ttl > 0) {
          expect(ttl).toBeLessThanOrEqual(DONE_TTL_SECONDS);
          if (/^messaging:\{.+\}:done$/.test(key)) doneMarks++;
          continue;
        }
        if (key === STREAM || key === OUTBOX_PARKED) continue;
        const record = /^messaging:\{outbox\}:record:(.+)$/.exec(key);
        if (record && parked.has(record[1])) continue;
        // The dead-letter index (dead-letters/) mirrors the DLQ: an entry per letter in it, removed when
        // the letter leaves, like the parked records something an operator must act on.
        const letter = /^messaging:\{dlq:messaging\.consumer\.dlq\}:letter:(.+)$/.exec(key);
        if (letter) {
          indexedLetters.push(letter[1]);
          continue;
        }
        if (
          key === 'messaging:dlq-index:queues' ||
          /^messaging:\{dlq:messaging\.consumer\.dlq\}:(corr:.+|group:.+|groups|letters)$/.test(key)
        )
          continue;
        unbounded.push(`${key} (${await env.redis.type(key)})`);
      }
    }
    expect(unbounded).toEqual([]);
    expect(indexedLetters.sort()).toEqual(deadLettered.map(String).sort());
    // One done mark and one stream entry per processed message; the dead-lettered ones left neither.
    expect(doneMarks).toBe(processed.length);
    expect(await env.redis.xlen(STREAM)).toBe(processed.length);
    expect(parked.size).toBe(0);
  });
});
