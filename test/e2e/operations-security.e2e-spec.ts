/**
 * API keys, idempotency scoping, the rate limit (per key and per address), body limits, security
 * headers, the OpenAPI docs and no secrets in the logs, against a running producer (see operations-fixture.ts).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { messageIdForIdempotencyKey } from '@app/messaging/envelope';
import { matchApiKey } from '@app/http-platform';
import { drainAndCount } from '../fault/drain';
import { type AppProcess } from '../support/app-process';
import { postMessage, type HttpResult } from '../support/http';
import { assertExactlyOnce, processedCounts } from '../support/processed';
import { waitFor } from '../support/wait-for';
import {
  consumer,
  env,
  expect202,
  forgetProducer,
  health,
  KEY_A,
  KEY_B,
  producers,
  RATE_LIMIT,
  request,
  useOperationsEnvironment,
  useProducer,
  waitForProcessed,
} from './operations-fixture';

describe('operations', () => {
  useOperationsEnvironment('operations-security');

  describe('security', () => {
    let secured: AppProcess;
    /** Requests per API key that passed the API key guard on POST /messages, so counted by the rate limiter. */
    const counted = new Map<string, number>();
    const used = (key: string) => counted.get(key) ?? 0;
    const acceptedIds: string[] = [];

    /** POST /messages with a valid key (so it counts against the rate limit). */
    async function postCounted(body: unknown, headers: Record<string, string>, raw?: string): Promise<HttpResult> {
      const key = headers['X-Api-Key'] ?? headers.Authorization?.replace(/^Bearer /, '');
      counted.set(key, used(key) + 1);
      return postMessage(secured.url(''), body, headers, raw);
    }

    beforeAll(async () => {
      secured = await useProducer({ API_KEYS: `${KEY_A}, ${KEY_B}`, RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT), LOG_LEVEL: 'debug' });
    });

    it('POST /messages needs one of the API keys (X-Api-Key or Authorization: Bearer); so do the outbox and DLQ admin routes', async () => {
      const message = { type: 'secure.test', payload: {} };
      const none = await postMessage(secured.url(''), message);
      expect(none.status).toBe(401);
      expect(none.headers.get('content-type')).toMatch(/^application\/json/);
      expect(none.body).toMatchObject({ statusCode: 401, message: expect.stringMatching(/API key/) });

      const wrong = await postMessage(secured.url(''), message, { 'X-Api-Key': `${KEY_A}x` });
      expect(wrong.status).toBe(401);
      expect((await postMessage(secured.url(''), message, { Authorization: `Bearer ${KEY_B.slice(0, -1)}` })).status).toBe(401);

      acceptedIds.push(expect202(await postCounted(message, { 'X-Api-Key': KEY_A })));
      acceptedIds.push(expect202(await postCounted(message, { Authorization: `Bearer ${KEY_B}` })));

      const adminNone = await request(secured.url('/admin/outbox'));
      expect(adminNone.status).toBe(401);
      expect(adminNone.body).toMatchObject({ statusCode: 401 });
      const adminKey = await request(secured.url('/admin/outbox'), { headers: { 'X-Api-Key': KEY_B } });
      expect(adminKey.status).toBe(200);
      expect(adminKey.body).toEqual({ pending: expect.any(Number), parked: expect.any(Number) });
      expect((await request(secured.url('/admin/outbox/parked'), { headers: { Authorization: `Bearer ${KEY_A}` } })).status).toBe(200);
    });

    it('an Idempotency-Key is scoped to the API key: same key twice → same id; another API key → another id', async () => {
      const idempotencyKey = `scoped-${randomUUID()}`;
      const message = { type: 'secure.idempotent', payload: {} };
      const a1 = expect202(await postCounted(message, { 'X-Api-Key': KEY_A, 'Idempotency-Key': idempotencyKey }));
      const b = expect202(await postCounted(message, { 'X-Api-Key': KEY_B, 'Idempotency-Key': idempotencyKey }));
      const a2 = expect202(await postCounted(message, { Authorization: `Bearer ${KEY_A}`, 'Idempotency-Key': idempotencyKey }));
      expect(a2).toBe(a1);
      expect(b).not.toBe(a1);
      expect(a1).toBe(messageIdForIdempotencyKey(idempotencyKey, matchApiKey(KEY_A, [KEY_A])));
      expect(b).toBe(messageIdForIdempotencyKey(idempotencyKey, matchApiKey(KEY_B, [KEY_B])));
      expect(a1).not.toBe(messageIdForIdempotencyKey(idempotencyKey));
      acceptedIds.push(a1, b);
      const counts = await waitForProcessed(env, [a1, b]);
      expect(assertExactlyOnce(counts, [a1, b])).toEqual({ lost: [], duplicated: [] });
    });

    it('413 for a body over 256 KiB and 415 for text/plain, with JSON bodies; security headers on every answer', async () => {
      // Sent without a key: the body limit is enforced before any route runs, so this never counts.
      const large = await postMessage(secured.url(''), { type: 'secure.large', payload: { blob: 'x'.repeat(300 * 1024) } });
      expect(large.status).toBe(413);
      expect(large.headers.get('content-type')).toMatch(/^application\/json/);
      expect(large.body).toMatchObject({ statusCode: 413 });

      const text = await postCounted(
        undefined,
        { 'X-Api-Key': KEY_A, 'content-type': 'text/plain' },
        JSON.stringify({ type: 'secure.text', payload: {} }),
      );
      expect(text.status).toBe(415);
      expect(text.headers.get('content-type')).toMatch(/^application\/json/);
      expect(text.body).toMatchObject({ statusCode: 415, message: expect.stringMatching(/application\/json/) });

      const answers = [
        large,
        text,
        await postCounted({ type: 'secure.headers', payload: {} }, { 'X-Api-Key': KEY_A }),
        await health(secured),
      ];
      acceptedIds.push(expect202(answers[2]));
      for (const answer of answers) {
        expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
        expect(answer.headers.get('x-frame-options')).toBe('SAMEORIGIN');
        expect(answer.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
        expect(answer.headers.get('x-powered-by')).toBeNull();
      }
    });

    it('serves the OpenAPI UI at /docs and the document at /docs-json, with POST /messages', async () => {
      const ui = await request(secured.url('/docs'));
      expect(ui.status).toBe(200);
      expect(ui.headers.get('content-type')).toMatch(/^text\/html/);
      expect(String(ui.body)).toMatch(/swagger-ui/i);

      const document = await request(secured.url('/docs-json'));
      expect(document.status).toBe(200);
      expect(document.body).toMatchObject({ openapi: expect.stringMatching(/^3\./), paths: { '/messages': { post: expect.any(Object) } } });
      expect(Object.keys(document.body.paths)).toEqual(expect.arrayContaining(['/messages', '/admin/outbox', '/admin/outbox/parked']));
    });

    it(`rate limit per API key: request ${RATE_LIMIT + 1} of one key within a minute is answered 429 with Retry-After and not published, while the other key, from the same address, keeps its own budget`, async () => {
      const message = (i: number) => ({ type: 'secure.rate', payload: { i } });
      const remainingA = RATE_LIMIT - used(KEY_A);
      expect(remainingA).toBeGreaterThan(0);
      for (let i = 0; i < remainingA; i++) acceptedIds.push(expect202(await postCounted(message(i), { 'X-Api-Key': KEY_A })));
      const idempotencyKey = `throttled-${randomUUID()}`;
      const throttled = await postCounted(message(-1), { 'X-Api-Key': KEY_A, 'Idempotency-Key': idempotencyKey });
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('content-type')).toMatch(/^application\/json/);
      expect(throttled.body).toMatchObject({ statusCode: 429 });
      // @nestjs/throttler names the header Retry-After (its default throttler has no suffix); seconds.
      const retryAfter = Number(throttled.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);

      // Key B, from the same address (127.0.0.1), is not affected: its budget is its own, RATE_LIMIT in full.
      const remainingB = RATE_LIMIT - used(KEY_B);
      expect(remainingB).toBeGreaterThan(0);
      for (let i = 0; i < remainingB; i++) acceptedIds.push(expect202(await postCounted(message(i), { Authorization: `Bearer ${KEY_B}` })));
      const throttledB = await postCounted(message(-2), { Authorization: `Bearer ${KEY_B}` });
      expect(throttledB.status).toBe(429);
      expect(Number(throttledB.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(used(KEY_A)).toBe(RATE_LIMIT + 1);
      expect(used(KEY_B)).toBe(RATE_LIMIT + 1);
      // Admin routes are not rate limited.
      expect((await request(secured.url('/admin/outbox'), { headers: { 'X-Api-Key': KEY_A } })).status).toBe(200);

      expect(await drainAndCount(env, acceptedIds, 15_000)).toEqual({ lost: [], duplicated: [] });
      const throttledId = messageIdForIdempotencyKey(idempotencyKey, matchApiKey(KEY_A, [KEY_A]));
      expect((await processedCounts(env.redis)).has(throttledId)).toBe(false);
    });

    it('no secret in the logs: neither API key nor the broker credentials', async () => {
      await secured.stop();
      forgetProducer();
      // Logging at debug, the producer wrote its start-up settings (masked) at least.
      expect(secured.output()).toMatch(/"apiKeys":"2 configured"/);
      expect(secured.output()).toMatch(/amqp:\/\/guest:\*\*\*@/);
      // Its log file holds the same; the other producers (one of them through broker and Redis
      // outages, at debug) and the consumer are checked for the broker credentials too.
      const fileText = await waitFor(
        async () => {
          const text = await readFile(secured.logFile, 'utf8');
          return Buffer.byteLength(text) >= Buffer.byteLength(secured.output()) ? text : undefined;
        },
        { timeoutMs: 5000, description: 'the log file to be flushed' },
      );
      const logs = [
        { file: secured.logFile, text: fileText },
        ...[...producers, consumer!].map((app) => ({ file: app.logFile, text: app.output() })),
      ];
      for (const { file, text } of logs) {
        for (const secret of [KEY_A, KEY_B, 'guest:guest']) {
          expect({ file, leaks: text.includes(secret) ? secret : undefined }).toEqual({ file, leaks: undefined });
        }
      }
    });
  });

  describe('rate limit without API keys', () => {
    it('counts per client address: the 4th request within a minute from 127.0.0.1 is answered 429 with Retry-After', async () => {
      const app = await useProducer({ RATE_LIMIT_PER_MINUTE: '3' });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(expect202(await postMessage(app.url(''), { type: 'rate.address', payload: { i } })));
      const throttled = await postMessage(app.url(''), { type: 'rate.address', payload: {} });
      expect(throttled.status).toBe(429);
      expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await drainAndCount(env, ids, 10_000)).toEqual({ lost: [], duplicated: [] });
      forgetProducer();
      await app.kill();
    });
  });
});
