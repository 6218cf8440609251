/**
 * The outbox and DLQ operator routes against running apps (see operations-fixture.ts): parked
 * messages and dead letters listed, retried or moved back, each processed once.
 */
import { randomUUID } from 'node:crypto';
import { drainAndCount } from '../fault/drain';
import { postMessage } from '../support/http';
import { processedCounts } from '../support/processed';
import { waitFor } from '../support/wait-for';
import {
  env,
  EXCHANGE,
  expect202,
  KEY_A,
  KEY_B,
  metric,
  OUTBOX_PARKED,
  producer,
  REPLAYS_PARKED,
  request,
  useConsumer,
  useOperationsEnvironment,
  useProducer,
  waitForProcessed,
} from './operations-fixture';

describe('operations', () => {
  useOperationsEnvironment('operations-admin');

  describe('outbox operator routes', () => {
    const QUEUE = 'messaging.consumer';

    /** Binds or unbinds the work queue from the exchange, on a channel of the test's own. */
    async function workQueueBinding(action: 'bind' | 'unbind'): Promise<void> {
      const connection = await env.amqp();
      try {
        const channel = await connection.createChannel();
        if (action === 'bind') await channel.bindQueue(QUEUE, EXCHANGE, '#');
        else await channel.unbindQueue(QUEUE, EXCHANGE, '#');
      } finally {
        await connection.close().catch(() => undefined);
      }
    }

    afterAll(async () => {
      await workQueueBinding('bind').catch(() => undefined);
    });

    it('messages the broker keeps refusing are parked after OUTBOX_MAX_ATTEMPTS; listed with attempts and last error; retried one and all; each processed once', async () => {
      // A real refusal with the broker connected, so that the replay job runs and fails: the work
      // queue's binding is removed (as by an operator's mistake), every publish is unroutable and, being
      // mandatory, returned; the producer counts that as not confirmed. No app is started while the
      // binding is gone (each app declares it again when it connects).
      const app = await useProducer({
        OUTBOX_MAX_ATTEMPTS: '2',
        OUTBOX_REPLAY_INTERVAL_MS: '100',
        OUTBOX_BACKOFF_BASE_MS: '50',
        OUTBOX_BACKOFF_MAX_MS: '100',
      });
      await workQueueBinding('unbind');

      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push(
          expect202(
            await postMessage(app.url(''), { type: 'parked.test', payload: { i } }, { 'X-Correlation-Id': `parked-${i}` }),
            'pending',
          ),
        );
      await waitFor(
        async () => {
          const counts = await request(app.url('/admin/outbox'));
          return counts.body?.parked === 3 && counts.body?.pending === 0;
        },
        { timeoutMs: 10_000, description: 'the 3 messages to be parked' },
      );
      expect((await request(app.url('/admin/outbox'))).body).toEqual({ pending: 0, parked: 3 });
      expect((await request(app.url('/admin/outbox/pending'))).body).toEqual([]);

      const parked = await request(app.url('/admin/outbox/parked'));
      expect(parked.status).toBe(200);
      expect([...parked.body].map((entry: { id: string }) => entry.id).sort()).toEqual([...ids].sort());
      for (const entry of parked.body) {
        expect(entry).toEqual({
          id: expect.any(String),
          type: 'parked.test',
          correlationId: expect.stringMatching(/^parked-\d$/),
          storedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          attempts: 2,
          lastError: expect.stringMatching(/not confirmed: returned \(unroutable\)/),
        });
      }
      expect((await request(app.url('/admin/outbox/parked?limit=1&offset=1'))).body).toHaveLength(1);
      expect(await metric(app, REPLAYS_PARKED)).toBe(3);
      await waitFor(async () => (await metric(app, OUTBOX_PARKED)) === 3, { timeoutMs: 5000, description: `${OUTBOX_PARKED} to show 3` });
      expect((await processedCounts(env.redis)).has(ids[0])).toBe(false);

      await workQueueBinding('bind');

      expect((await request(app.url(`/admin/outbox/parked/${randomUUID()}/retry`), { method: 'POST' })).body).toEqual({ retried: 0 });
      const one = await request(app.url(`/admin/outbox/parked/${ids[0]}/retry`), { method: 'POST' });
      expect(one.status).toBe(200);
      expect(one.body).toEqual({ retried: 1 });
      await waitForProcessed(env, [ids[0]]);
      await waitFor(async () => (await request(app.url('/admin/outbox'))).body?.pending === 0, {
        timeoutMs: 5000,
        description: 'the retried message to leave the outbox',
      });
      expect((await request(app.url('/admin/outbox'))).body).toEqual({ pending: 0, parked: 2 });

      const all = await request(app.url('/admin/outbox/parked/retry'), { method: 'POST', json: { all: true } });
      expect(all.status).toBe(200);
      expect(all.body).toEqual({ retried: 2 });
      await waitForProcessed(env, ids);
      expect(await drainAndCount(env, ids, 10_000)).toEqual({ lost: [], duplicated: [] });
      expect((await request(app.url('/admin/outbox'))).body).toEqual({ pending: 0, parked: 0 });
    });
  });

  describe('DLQ operator routes', () => {
    const dlqAuth = { 'X-Api-Key': KEY_A };

    it('messages that always fail end in the DLQ with failure headers; moved back one and all to a healthy consumer; each processed once', async () => {
      const app = producer ?? (await useProducer());
      const failing = await useConsumer({
        CONSUMER_SIMULATED_FAILURES: 'on',
        CONSUMER_MAX_ATTEMPTS: '2',
        CONSUMER_RETRY_BASE_DELAY_MS: '50',
        API_KEYS: `${KEY_A},${KEY_B}`,
      });
      expect((await request(failing.url('/admin/dlq'))).status).toBe(401);
      expect((await request(failing.url('/admin/dlq'), { headers: dlqAuth })).body).toEqual({ count: 0 });

      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push(expect202(await postMessage(app.url(''), { type: 'dlq.test', payload: { i, simulateFailure: { always: true } } })));
      await waitFor(async () => (await request(failing.url('/admin/dlq'), { headers: dlqAuth })).body?.count === 3, {
        timeoutMs: 10_000,
        description: 'the 3 failing messages in the DLQ',
      });

      const listed = await request(failing.url('/admin/dlq/messages'), { headers: dlqAuth });
      expect(listed.status).toBe(200);
      expect(listed.body.map((letter: { messageId: string }) => letter.messageId).sort()).toEqual([...ids].sort());
      for (const letter of listed.body) {
        expect(letter).toMatchObject({
          type: 'dlq.test',
          failure: {
            'x-failure-reason': expect.stringMatching(/^handler failed 2 time\(s\), last: SimulatedFailure: simulated failure of message /),
            'x-failure-kind': 'exhausted',
            'x-failed-queue': 'messaging.consumer',
            'x-failed-attempts': 2,
            'x-failed-at': expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          },
        });
        expect(JSON.parse(letter.body)).toMatchObject({
          id: letter.messageId,
          type: 'dlq.test',
          payload: { simulateFailure: { always: true } },
        });
      }
      // Listing hands the messages back.
      await waitFor(async () => (await request(failing.url('/admin/dlq'), { headers: dlqAuth })).body?.count === 3, {
        timeoutMs: 5000,
        description: 'the listed messages back in the DLQ',
      });
      expect((await processedCounts(env.redis)).has(ids[0])).toBe(false);

      const healthy = await useConsumer({ CONSUMER_SIMULATED_FAILURES: 'off', API_KEYS: `${KEY_A},${KEY_B}` });
      expect((await request(healthy.url('/admin/dlq/move-back'), { method: 'POST', json: {} })).status).toBe(401);
      const one = await request(healthy.url(`/admin/dlq/${ids[1]}/move-back`), { method: 'POST', headers: dlqAuth });
      expect(one.status).toBe(200);
      expect(one.body).toEqual({ moved: [ids[1]] });
      const afterOne = await waitForProcessed(env, [ids[1]]);
      expect(afterOne.get(ids[1])).toBe(1);
      expect(afterOne.has(ids[0]) || afterOne.has(ids[2])).toBe(false);
      await waitFor(async () => (await request(healthy.url('/admin/dlq'), { headers: dlqAuth })).body?.count === 2, {
        timeoutMs: 5000,
        description: '2 messages left in the DLQ',
      });

      const all = await request(healthy.url('/admin/dlq/move-back'), {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY_B}` },
        json: { all: true },
      });
      expect(all.status).toBe(200);
      expect([...all.body.moved].sort()).toEqual([ids[0], ids[2]].sort());
      expect(await drainAndCount(env, ids, 10_000)).toEqual({ lost: [], duplicated: [] });
      await waitFor(async () => (await request(healthy.url('/admin/dlq'), { headers: dlqAuth })).body?.count === 0, {
        timeoutMs: 5000,
        description: 'the DLQ to be empty',
      });
    });
  });
});
