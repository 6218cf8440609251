/**
 * Connection URLs against running apps (the built dist/, real RabbitMQ and Redis): TLS (amqps://,
 * rediss:// with an ACL user's password) and a RABBITMQ_URL that lists cluster nodes.
 *
 * TLS is tested without touching the services' configuration: a throwaway CA and a server certificate
 * for 127.0.0.1 are generated with the openssl CLI, and TLS-terminating proxies of the suite's own
 * forward to the plain ports. The apps trust the CA through NODE_EXTRA_CA_CERTS (Node's own setting:
 * amqplib and ioredis both open their TLS sockets with Node's default trust store). The Redis password
 * belongs to an ACL user created for the suite and deleted afterwards.
 *
 * A cluster is stood in for by two addresses of the one broker (FaultProxy ports): what is tested is
 * that amqp-connection-manager goes round the list, on start and after losing the node it was on.
 */
import { randomUUID } from 'node:crypto';
import { startApp, stopAll, waitForReady, type AppProcess } from '../support/app-process';
import { FaultProxy } from '../support/fault-proxy';
import { freePort } from '../support/free-port';
import { getUrl, postMessage, type HttpResult } from '../support/http';
import { assertExactlyOnce, processedCounts } from '../support/processed';
import { createRedisAclUser, type RedisAclUser } from '../support/redis-acl';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { createTestCertificates, TlsProxy, type TestCertificates } from '../support/tls';
import { waitFor } from '../support/wait-for';

/** The same broker URL (credentials, vhost) at another address. */
function atPort(amqpUrl: string, port: number): string {
  return amqpUrl.replace(/@[^/@]+\//, `@127.0.0.1:${port}/`);
}

function expect202(response: HttpResult, status: 'published' | 'pending' = 'published'): string {
  expect(response.status).toBe(202);
  expect(response.body).toEqual({ id: expect.any(String), status });
  return response.body.id as string;
}

describe('connection URLs', () => {
  let env: TestEnv;

  async function expectProcessedOnce(ids: string[]): Promise<void> {
    const counts = await waitFor(
      async () => {
        const seen = await processedCounts(env.redis);
        return ids.every((id) => seen.has(id)) ? seen : undefined;
      },
      { timeoutMs: 15_000, description: `${ids.length} message(s) to be processed` },
    );
    expect(assertExactlyOnce(counts, ids)).toEqual({ lost: [], duplicated: [] });
  }

  beforeAll(async () => {
    env = await createTestEnv('connection-urls');
  });

  afterAll(async () => {
    await stopAll();
    await env?.cleanup();
  });

  describe('TLS: amqps:// and rediss:// with a password', () => {
    let certificates: TestCertificates;
    let amqpTls: TlsProxy;
    let redisTls: TlsProxy;
    let redisUser: RedisAclUser;
    let tlsEnv: Record<string, string>;

    beforeAll(async () => {
      certificates = await createTestCertificates();
      const { key, cert } = certificates;
      [amqpTls, redisTls, redisUser] = await Promise.all([
        TlsProxy.start({ targetPort: env.amqpPort, targetHost: env.amqpHost, key, cert }),
        TlsProxy.start({ targetPort: env.redisPort, targetHost: env.redisHost, key, cert }),
        createRedisAclUser(env.redis),
      ]);
      tlsEnv = {
        ...appEnv(env),
        RABBITMQ_URL: atPort(env.amqpUrl, amqpTls.port).replace(/^amqp:/, 'amqps:'),
        REDIS_URL: `rediss://${redisUser.name}:${redisUser.password}@127.0.0.1:${redisTls.port}/${env.redisDb}`,
        LOG_LEVEL: 'info',
      };
    });

    afterAll(async () => {
      await stopAll();
      await Promise.all([amqpTls?.stop(), redisTls?.stop()]);
      await redisUser?.remove().catch(() => undefined);
      await certificates?.remove();
    });

    it('without the CA the certificate is refused on both connections: the producer answers /health 503, nothing is sent in the clear', async () => {
      const [amqpFailures, redisFailures] = [amqpTls.handshakeFailures, redisTls.handshakeFailures];
      const producer = await startApp('producer', tlsEnv);
      const health = await waitFor(
        async () => {
          const answer = await getUrl(producer.url('/health'));
          return answer.status === 503 && amqpTls.handshakeFailures > amqpFailures && redisTls.handshakeFailures > redisFailures
            ? answer
            : undefined;
        },
        { timeoutMs: 15_000, description: 'the producer to refuse both certificates' },
      );
      expect(health.body).toMatchObject({ details: { intake: { status: 'down', broker: 'down: not connected' } } });
      expect(producer.output()).toMatch(/connection problem: .*(self[- ]signed|unable to (get|verify))/i);
      expect(producer.output()).not.toContain(redisUser.password);
      await producer.kill();
    });

    it('with the CA in NODE_EXTRA_CA_CERTS: both apps connect through TLS; a message is published (202) and processed once, another goes through the outbox and replay while the broker is cut off; the startup line masks the Redis password', async () => {
      const withCa: Record<string, string> = {
        ...tlsEnv,
        NODE_EXTRA_CA_CERTS: certificates.caFile,
        OUTBOX_REPLAY_INTERVAL_MS: '200',
        OUTBOX_BACKOFF_BASE_MS: '100',
      };
      // The producer reaches the TLS proxy through a plain TCP fault proxy, so its broker can be cut off.
      const producerLink = await FaultProxy.start(amqpTls.port);
      try {
        const [amqpBefore, redisBefore] = [amqpTls.secureConnections, redisTls.secureConnections];
        const [consumer, producer] = await Promise.all([
          startApp('consumer', withCa),
          startApp('producer', { ...withCa, RABBITMQ_URL: atPort(withCa.RABBITMQ_URL, producerLink.port) }),
        ]);
        await Promise.all([waitForReady(consumer), waitForReady(producer)]);
        // Each app holds a broker connection and a Redis connection, and they lead nowhere but the TLS proxies.
        expect(amqpTls.secureConnections - amqpBefore).toBeGreaterThanOrEqual(2);
        expect(redisTls.secureConnections - redisBefore).toBeGreaterThanOrEqual(2);

        const published = expect202(await postMessage(producer.url(''), { type: 'tls.test', payload: { n: 1 } }));
        await expectProcessedOnce([published]);

        // The outbox (its Lua scripts, MULTI) under the ACL user, over rediss://.
        producerLink.refuse();
        await waitFor(async () => (await getUrl(producer.url('/health'))).body?.details?.intake?.broker !== 'up', {
          timeoutMs: 10_000,
          description: 'the producer to see the broker gone',
        });
        const pending = expect202(await postMessage(producer.url(''), { type: 'tls.test', payload: { n: 2 } }), 'pending');
        expect((await getUrl(producer.url('/admin/outbox'))).body).toEqual({ pending: 1, parked: 0 });
        producerLink.accept();
        await expectProcessedOnce([published, pending]);
        await waitFor(async () => (await getUrl(producer.url('/admin/outbox'))).body?.pending === 0, {
          timeoutMs: 10_000,
          description: 'the outbox to be empty',
        });

        for (const app of [producer, consumer]) {
          const masked = `rediss://${redisUser.name}:***@127.0.0.1:${redisTls.port}/${env.redisDb}`;
          await waitFor(() => Promise.resolve(app.output().includes(masked)), {
            timeoutMs: 5000,
            description: `the ${app.kind}'s startup line`,
          });
          expect(app.output()).toContain(`amqps://guest:***@127.0.0.1:${app === producer ? producerLink.port : amqpTls.port}/`);
          expect(app.output()).not.toContain(redisUser.password);
        }
        await Promise.all([producer.kill(), consumer.kill()]);
      } finally {
        await producerLink.stop();
      }
    });
  });

  describe('cluster: RABBITMQ_URL lists several nodes', () => {
    let nodeA: FaultProxy;
    let nodeB: FaultProxy;

    beforeAll(async () => {
      [nodeA, nodeB] = await Promise.all([FaultProxy.start(env.amqpPort, env.amqpHost), FaultProxy.start(env.amqpPort, env.amqpHost)]);
    });

    afterAll(async () => {
      await stopAll();
      await Promise.all([nodeA?.stop(), nodeB?.stop()]);
    });

    it('the first node has nothing listening: both apps connect to the next one; a message is published (202) and processed once', async () => {
      const deadPort = await freePort();
      const cluster = { ...appEnv(env), RABBITMQ_URL: `${atPort(env.amqpUrl, deadPort)},${env.amqpUrl}` };
      const [consumer, producer] = await Promise.all([startApp('consumer', cluster), startApp('producer', cluster)]);
      await Promise.all([waitForReady(consumer), waitForReady(producer)]);
      const id = expect202(await postMessage(producer.url(''), { type: 'cluster.first-down', payload: {} }));
      await expectProcessedOnce([id]);
      await Promise.all([producer.kill(), consumer.kill()]);
    });

    it('the node the apps are on goes away: they move round the list to the other node and messages flow again', async () => {
      nodeA.refuse();
      const cluster = { ...appEnv(env), RABBITMQ_URL: `${atPort(env.amqpUrl, nodeA.port)}, ${atPort(env.amqpUrl, nodeB.port)}` };
      const [consumer, producer]: AppProcess[] = await Promise.all([startApp('consumer', cluster), startApp('producer', cluster)]);
      await Promise.all([waitForReady(consumer), waitForReady(producer)]);
      expect(nodeB.connections).toBeGreaterThanOrEqual(2);
      const before = expect202(await postMessage(producer.url(''), { type: 'cluster.failover', payload: { n: randomUUID() } }));
      await expectProcessedOnce([before]);

      nodeA.accept();
      nodeB.refuse();
      // Both apps notice the loss (the producer's health says so) and reconnect through node A.
      await waitFor(async () => (await getUrl(producer.url('/health'))).body?.details?.intake?.broker !== 'up', {
        timeoutMs: 10_000,
        description: 'the producer to see its node gone',
      });
      await Promise.all([waitForReady(consumer, 30_000), waitForReady(producer, 30_000)]);
      expect(nodeA.connections).toBeGreaterThanOrEqual(2);
      expect(nodeB.connections).toBe(0);
      const after = expect202(await postMessage(producer.url(''), { type: 'cluster.failover', payload: { n: randomUUID() } }));
      await expectProcessedOnce([before, after]);
      await Promise.all([producer.kill(), consumer.kill()]);
    });
  });
});
