/**
 * Health that follows the dependencies, metrics that move with the traffic, and the correlation id
 * in both apps' log lines, against running apps (see operations-fixture.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { drainAndCount } from '../fault/drain';
import { waitForReady, type AppProcess } from '../support/app-process';
import { metricValue, postMessage } from '../support/http';
import { waitFor } from '../support/wait-for';
import {
  ACCEPTED_PENDING,
  ACCEPTED_PUBLISHED,
  CONFIRM_COUNT,
  CONSUMED_PROCESSED,
  consumer,
  consumerRedis,
  env,
  expect202,
  HANDLER_COUNT,
  health,
  metric,
  metrics,
  OUTBOX_PARKED,
  OUTBOX_PENDING,
  producer,
  producerAmqp,
  producerRedis,
  REPLAYS_PUBLISHED,
  request,
  RSS,
  useConsumer,
  useOperationsEnvironment,
  useProducer,
  waitForProcessed,
} from './operations-fixture';

describe('operations', () => {
  useOperationsEnvironment('operations-health');

  describe('health', () => {
    it('producer: ok → broker refused: 200 degraded → broker and Redis refused: 503 with details → back: ok; /health/live 200 throughout', async () => {
      const app = producer!;
      const live = async () => expect((await request(app.url('/health/live'))).status).toBe(200);

      const ok = await health(app);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ status: 'ok', details: { intake: { status: 'up', broker: 'up', outbox: 'up' } } });
      await live();

      producerAmqp.refuse();
      const degraded = await waitFor(
        async () => {
          const result = await health(app);
          return result.body?.details?.intake?.broker !== 'up' ? result : undefined;
        },
        { timeoutMs: 10_000, description: 'the producer to see the broker gone' },
      );
      // One of the two ways in is enough to accept messages: terminus reports `degraded`, still 200.
      expect(degraded.status).toBe(200);
      expect(degraded.body).toMatchObject({
        status: 'degraded',
        details: { intake: { status: 'degraded', broker: 'down: not connected', outbox: 'up' } },
      });
      await live();

      producerRedis.refuse();
      const down = await waitFor(
        async () => {
          const result = await health(app);
          return result.status === 503 ? result : undefined;
        },
        { timeoutMs: 10_000, description: 'the producer health to answer 503' },
      );
      expect(down.body).toMatchObject({
        status: 'error',
        error: { intake: { status: 'down' } },
        details: { intake: { status: 'down', broker: 'down: not connected', outbox: expect.stringMatching(/^down: /) } },
      });
      await live();

      producerAmqp.accept();
      producerRedis.accept();
      await waitForReady(app, 15_000);
      const back = await health(app);
      expect(back.status).toBe(200);
      expect(back.body).toMatchObject({ status: 'ok', details: { intake: { status: 'up', broker: 'up', outbox: 'up' } } });
      await live();
    });

    it('consumer: ok → its Redis refused: 503 with details → back: ok; /health/live 200 throughout', async () => {
      const app = consumer!;
      const ok = await health(app);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ status: 'ok', details: { processing: { status: 'up', broker: 'up', redis: 'up' } } });

      consumerRedis.refuse();
      const down = await waitFor(
        async () => {
          const result = await health(app);
          return result.status === 503 ? result : undefined;
        },
        { timeoutMs: 10_000, description: 'the consumer health to answer 503' },
      );
      expect(down.body).toMatchObject({
        status: 'error',
        details: { processing: { status: 'down', broker: 'up', redis: expect.stringMatching(/^down: /) } },
      });
      expect((await request(app.url('/health/live'))).status).toBe(200);

      consumerRedis.accept();
      await waitForReady(app, 15_000);
      expect((await health(app)).body).toMatchObject({ status: 'ok', details: { processing: { status: 'up', redis: 'up' } } });
      expect((await request(app.url('/health/live'))).status).toBe(200);
    });
  });

  describe('metrics', () => {
    it('move when messages flow: accepted, confirm latency, consumed, handler duration; process metrics present', async () => {
      const [p0, c0] = [await metrics(producer!), await metrics(consumer!)];
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push(expect202(await postMessage(producer!.url(''), { type: 'metrics.test', payload: { i } }), 'published'));
      await waitForProcessed(env, ids);
      await waitFor(async () => (await metric(consumer!, CONSUMED_PROCESSED)) >= metricValue(c0, CONSUMED_PROCESSED) + 5, {
        timeoutMs: 5000,
        description: 'the consumer to count 5 more processed messages',
      });

      const [p1, c1] = [await metrics(producer!), await metrics(consumer!)];
      expect(metricValue(p1, ACCEPTED_PUBLISHED) - metricValue(p0, ACCEPTED_PUBLISHED)).toBe(5);
      expect(metricValue(p1, CONFIRM_COUNT) - metricValue(p0, CONFIRM_COUNT)).toBe(5);
      expect(metricValue(c1, CONSUMED_PROCESSED) - metricValue(c0, CONSUMED_PROCESSED)).toBe(5);
      expect(metricValue(c1, HANDLER_COUNT) - metricValue(c0, HANDLER_COUNT)).toBeGreaterThanOrEqual(5);
      expect(metricValue(p1, RSS)).toBeGreaterThan(0);
      expect(metricValue(c1, RSS)).toBeGreaterThan(0);
      expect(p1).toMatch(new RegExp(`^${OUTBOX_PENDING} \\d+$`, 'm'));
      expect(p1).toMatch(new RegExp(`^${OUTBOX_PARKED} \\d+$`, 'm'));
    });

    it('broker refused: pending rises and the outbox gauge shows the backlog; after the replay, replays published rises and the gauge drops', async () => {
      const p0 = await metrics(producer!);
      producerAmqp.refuse();
      await waitFor(async () => (await health(producer!)).body?.details?.intake?.broker !== 'up', {
        timeoutMs: 10_000,
        description: 'the producer to see the broker gone',
      });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push(expect202(await postMessage(producer!.url(''), { type: 'metrics.pending', payload: { i } }), 'pending'));
      expect((await metric(producer!, ACCEPTED_PENDING)) - metricValue(p0, ACCEPTED_PENDING)).toBe(3);
      await waitFor(async () => (await metric(producer!, OUTBOX_PENDING)) === 3, {
        timeoutMs: 5000,
        description: `${OUTBOX_PENDING} to show 3`,
      });

      producerAmqp.accept();
      await waitForProcessed(env, ids, 15_000);
      await waitFor(async () => (await metric(producer!, REPLAYS_PUBLISHED)) - metricValue(p0, REPLAYS_PUBLISHED) === 3, {
        timeoutMs: 5000,
        description: `${REPLAYS_PUBLISHED} to rise by 3`,
      });
      await waitFor(async () => (await metric(producer!, OUTBOX_PENDING)) === 0, {
        timeoutMs: 5000,
        description: `${OUTBOX_PENDING} back to 0`,
      });
      expect(await drainAndCount(env, ids, 10_000)).toEqual({ lost: [], duplicated: [] });
    });
  });

  describe('correlation id in the logs', () => {
    /** The JSON lines an app wrote (pino), parsed; other lines are skipped. */
    function logLines(app: AppProcess): Record<string, unknown>[] {
      return app
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        });
    }

    const lineAbout = (app: AppProcess, id: string, msg: string) =>
      waitFor(() => Promise.resolve(logLines(app).find((line) => line.messageId === id && line.msg === msg)), {
        timeoutMs: 10_000,
        description: `the ${app.kind}'s "${msg}" line about ${id}`,
      });

    it('X-Correlation-Id, or the trace id of a W3C traceparent, travels in the AMQP headers: at LOG_LEVEL=info the producer and the consumer each write one line per message with its messageId and correlationId', async () => {
      const app = await useProducer({ LOG_LEVEL: 'info' });
      const target = await useConsumer({ LOG_LEVEL: 'info' });
      const correlationId = `order-flow-${randomUUID()}`;
      const traceId = randomBytes(16).toString('hex');
      const byHeader = await postMessage(app.url(''), { type: 'log.correlation', payload: {} }, { 'X-Correlation-Id': correlationId });
      const byTrace = await postMessage(
        app.url(''),
        { type: 'log.traceparent', payload: {} },
        { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      );
      expect(byHeader.headers.get('x-correlation-id')).toBe(correlationId);
      expect(byTrace.headers.get('x-correlation-id')).toBe(traceId);
      const cases = [
        { id: expect202(byHeader, 'published'), correlationId, type: 'log.correlation' },
        { id: expect202(byTrace, 'published'), correlationId: traceId, type: 'log.traceparent' },
      ];
      await waitForProcessed(
        env,
        cases.map(({ id }) => id),
      );

      for (const { id, correlationId: expected, type } of cases) {
        expect(await lineAbout(app, id, 'message published')).toMatchObject({
          level: 30,
          name: 'producer',
          messageId: id,
          correlationId: expected,
          type,
          status: 'published',
        });
        expect(await lineAbout(target, id, 'message processed')).toMatchObject({
          level: 30,
          name: 'consumer',
          context: 'MessageConsumer',
          messageId: id,
          correlationId: expected,
          type,
          attempt: 1,
        });
        // One line per message on each side, not one per step.
        expect(logLines(app).filter((line) => line.messageId === id)).toHaveLength(1);
        expect(logLines(target).filter((line) => line.messageId === id)).toHaveLength(1);
      }
    });
  });
});
