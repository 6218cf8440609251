/**
 * Graceful shutdown of both apps (SIGTERM while busy, a held request body, a second signal, under
 * load) and start-up config validation, against running apps (see operations-fixture.ts).
 */
import { randomUUID } from 'node:crypto';
import { drainAndCount } from '../fault/drain';
import { sendLoad } from '../fault/load';
import { startApp } from '../support/app-process';
import { postHeld, tcpProbe } from '../support/http';
import { processedEntries } from '../support/processed';
import { appEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import {
  CONSUMER_SHUTDOWN_TIMEOUT_MS,
  env,
  forgetProducer,
  producer,
  useConsumer,
  useOperationsEnvironment,
  useProducer,
} from './operations-fixture';

describe('operations', () => {
  useOperationsEnvironment('operations-shutdown');

  describe('graceful shutdown', () => {
    it(`SIGTERM to the consumer while messages are being delivered: it drains and stops within SHUTDOWN_TIMEOUT_MS (${CONSUMER_SHUTDOWN_TIMEOUT_MS} ms) + 3 s; a new consumer finishes; every message once`, async () => {
      const app = producer ?? (await useProducer());
      const target = await useConsumer();
      const type = `shutdown.consumer.${randomUUID().slice(0, 8)}`;
      const processedOfType = async () => (await processedEntries(env.redis)).filter((entry) => entry.type === type).length;

      let stopped: Promise<{ code: number | null; ms: number }> | undefined;
      const stopWhenBusy = waitFor(async () => (await processedOfType()) >= 20, {
        timeoutMs: 20_000,
        intervalMs: 10,
        description: '20 messages processed',
      }).then(() => {
        const started = Date.now();
        stopped = target.stop().then((code) => ({ code, ms: Date.now() - started }));
        return stopped;
      });
      const load = await sendLoad({ count: 300, concurrency: 20, ratePerSecond: 200, type, baseUrl: () => app.url('') });
      const { code, ms } = await stopWhenBusy;
      expect(load.unexpected).toEqual([]);
      expect(load.accepted.size).toBe(300);
      expect(await processedOfType()).toBeLessThan(300);

      // Nest runs the shutdown hooks (stop consuming, drain the handlers in flight, close) and then
      // re-raises SIGTERM, so a clean stop ends by the signal; exit code 0 would be the forced exit
      // of http-app.ts after SHUTDOWN_TIMEOUT_MS + 5 s.
      expect({ code, signal: target.exitSignal() }).toEqual({ code: null, signal: 'SIGTERM' });
      expect(ms).toBeLessThan(CONSUMER_SHUTDOWN_TIMEOUT_MS + 3000);
      expect(target.output()).not.toMatch(/still in flight after/);

      await useConsumer();
      expect(await drainAndCount(env, load.accepted.keys(), 20_000)).toEqual({ lost: [], duplicated: [] });
    });

    it('SIGTERM to the producer with a POST in flight: it stops accepting connections at once, answers the in-flight POST 202, then closes and ends by the re-raised SIGTERM; the message is processed once', async () => {
      const target = await useProducer();
      // The request is in the producer's hands (it answered 100 Continue) and waits for its body.
      const held = postHeld(target.url(''), { type: 'shutdown.in-flight', payload: {} }, { 'X-Correlation-Id': 'in-flight' });
      await held.continued;
      const stopped = target.stop();
      await waitFor(async () => (await tcpProbe(target.port)) === 'refused', {
        timeoutMs: 10_000,
        description: 'the producer to stop accepting connections',
      });
      // Not accepting, and still running: it waits for the request it is handling.
      expect(target.exitSignal()).toBeNull();
      held.send();
      const answer = await held.response;
      expect(answer.status).toBe(202);
      expect(answer.body).toEqual({ id: expect.any(String), status: 'published' });
      expect(answer.headers.get('connection')).toBe('close');
      expect(await stopped).toBeNull();
      expect(target.exitSignal()).toBe('SIGTERM');
      forgetProducer();
      expect(await drainAndCount(env, [answer.body.id as string], 10_000)).toEqual({ lost: [], duplicated: [] });
    });

    it('SIGTERM to the producer while a client holds its request body back: after SHUTDOWN_TIMEOUT_MS that client is disconnected unanswered and the stop goes on to end by SIGTERM (not by the overrun exit)', async () => {
      const target = await useProducer({ SHUTDOWN_TIMEOUT_MS: '1000' });
      const held = postHeld(target.url(''), { type: 'shutdown.stalled', payload: {} });
      await held.continued;
      const stopped = target.stop();
      const answer = await held.response;
      expect(answer.status).toBe(0);
      // Exit code 1 would be the overrun exit, SHUTDOWN_TIMEOUT_MS + 5 s after the signal.
      expect(await stopped).toBeNull();
      expect(target.exitSignal()).toBe('SIGTERM');
      forgetProducer();
    });

    it('a second SIGTERM during the stop ends the producer at once with exit code 1', async () => {
      const target = await useProducer({ SHUTDOWN_TIMEOUT_MS: '60000' });
      const held = postHeld(target.url(''), { type: 'shutdown.second-signal', payload: {} });
      await held.continued;
      void target.stop();
      await waitFor(async () => (await tcpProbe(target.port)) === 'refused', {
        timeoutMs: 10_000,
        description: 'the producer to begin its stop',
      });
      expect(await target.stop()).toBe(1);
      expect(target.exitSignal()).toBeNull();
      expect((await held.response).status).toBe(0);
      forgetProducer();
    });

    it('SIGTERM to the producer under load: it stops promptly; every 202 is processed exactly once and nothing is published without its 202', async () => {
      const target = await useProducer();
      let stopped: Promise<{ code: number | null; ms: number }> | undefined;
      const load = await sendLoad({
        count: 200,
        concurrency: 4,
        ratePerSecond: 200,
        type: 'shutdown.producer',
        baseUrl: () => target.url(''),
        onProgress: (sent) => {
          if (sent === 60) {
            const started = Date.now();
            stopped = target.stop().then((code) => ({ code, ms: Date.now() - started }));
          }
        },
      });
      const { code, ms } = await stopped!;
      expect({ code, signal: target.exitSignal() }).toEqual({ code: null, signal: 'SIGTERM' });
      expect(ms).toBeLessThan(5000);
      expect(load.unexpected).toEqual([]);
      expect(load.accepted.size).toBeGreaterThanOrEqual(60);
      expect(load.refused).toBeGreaterThan(0);

      // A replacement producer replays anything the stopped one left in the outbox.
      forgetProducer();
      await useProducer();
      expect(await drainAndCount(env, load.accepted.keys(), 20_000)).toEqual({ lost: [], duplicated: [] });
      // The refusals are connections refused after the listener closed, and now and then a reset of a
      // keep-alive connection the producer closed as idle just as the client reused it (a request on a
      // connection still open is answered as usual; a 503 without Retry-After counts as unexpected). None of
      // them was a request the producer had taken: every message that was published got its 202.
      const published = (await processedEntries(env.redis)).filter((entry) => entry.type === 'shutdown.producer').map((entry) => entry.id);
      expect(published.filter((id) => !load.accepted.has(id))).toEqual([]);
    });
  });

  describe('config validation', () => {
    it.each([
      ['PRODUCER_PORT', 'abc'],
      ['RABBITMQ_URL', 'http://x'],
    ])('%s=%s: the producer exits with code 1 and one line naming the variable', async (variable, value) => {
      const app = await startApp('producer', { ...appEnv(env), [variable]: value }, { waitForHealth: false });
      expect(await app.exited).toBe(1);
      const lines = app.output().trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^Invalid configuration: ${variable} `));
    });
  });
});
