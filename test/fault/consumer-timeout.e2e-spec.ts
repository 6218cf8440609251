/**
 * Issue 10, item 5, on a RabbitMQ node of the suite's own with `consumer_timeout = 5000`, while the
 * consumer is told CONSUMER_TIMEOUT_MS=60000 (a broker configured below what the app was told, so the
 * guard's hold bound, 80 % of it, does not save the delivery): deliveries held longer than 5 s (Redis
 * stalled, so the guard cannot finish them) make the broker close the consuming channel
 * (PRECONDITION_FAILED). The consumer must open it again on the same connection (amqplib used to drop
 * the whole connection, by accident) and, once Redis answers, process every message exactly once.
 * RabbitMQ 3.10 checks the timeout about once a minute, so this takes over a minute.
 */
import { createEnvelope } from '@app/messaging/envelope';
import { startApp, stopAll, type AppProcess } from '../support/app-process';
import { FaultProxy } from '../support/fault-proxy';
import { metricValue } from '../support/http';
import { createOwnServersEnv, type OwnServersEnv } from '../support/own-env';
import { appEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { drainAndCount } from './drain';

const BROKER_CONSUMER_TIMEOUT_MS = 5000;
const CONSUMER_TIMEOUT_THE_APP_IS_TOLD_MS = 60_000;
/** The broker's check runs about every 60 s; a held delivery is caught by the first check after 5 s. */
const LONGEST_WAIT_FOR_THE_CHECK_MS = 80_000;

describe('consumer_timeout (own RabbitMQ node): the channel comes back on the same connection, each message once', () => {
  let env: OwnServersEnv;
  let redisProxy: FaultProxy;
  let consumer: AppProcess;

  const metric = async (sample: string) => metricValue(await (await fetch(consumer.url('/metrics'))).text(), sample);
  /** Names of the node's AMQP connections (client address and port): a replaced connection has a new one. */
  const connections = async () => {
    const out = await env.rabbit.ctl('list_connections', 'name', '--formatter', 'json', '--quiet');
    return (JSON.parse(out.slice(out.indexOf('['))) as { name: string }[]).map((row) => row.name).sort();
  };

  beforeAll(async () => {
    env = await createOwnServersEnv('consumer-timeout', { rabbit: { config: [`consumer_timeout = ${BROKER_CONSUMER_TIMEOUT_MS}`] } });
    redisProxy = await FaultProxy.start(env.redisPort, env.redisHost);
  }, 120_000);

  afterAll(async () => {
    await stopAll();
    await redisProxy?.stop();
    await env?.cleanup();
  });

  it('deliveries held past consumer_timeout: nothing lost, nothing twice, the connection kept', async () => {
    consumer = await startApp('consumer', {
      ...appEnv(env, { redisPort: redisProxy.port }),
      CONSUMER_PREFETCH: '20',
      CONSUMER_TIMEOUT_MS: String(CONSUMER_TIMEOUT_THE_APP_IS_TOLD_MS),
    });
    await waitFor(async () => (await fetch(consumer.url('/health/ready'))).status === 200, { timeoutMs: 20_000, description: 'ready' });
    const envelopes = Array.from({ length: 300 }, (_, i) => createEnvelope('timeout.test', { i }));
    const connection = await env.amqp();
    const channel = await connection.createConfirmChannel();
    const connectionsBefore = await connections();
    const publishAll = async (list: typeof envelopes) => {
      for (const e of list)
        channel.publish('messaging.events', e.type, Buffer.from(JSON.stringify(e)), { persistent: true, messageId: e.id });
      await channel.waitForConfirms();
    };
    await publishAll(envelopes.slice(0, 100));
    await waitFor(async () => (await env.redis.xlen('messaging:processed')) >= 50, { timeoutMs: 20_000, description: 'processing' });

    redisProxy.stall();
    await publishAll(envelopes.slice(100));
    // Held deliveries (Redis stalled) outlive consumer_timeout: the broker's next check closes the
    // channel, and the consumer opens it again and subscribes (deliveries then held again).
    await waitFor(async () => (await metric('messaging_consumer_recoveries_total{cause="channel_closed"}')) >= 1, {
      timeoutMs: LONGEST_WAIT_FOR_THE_CHECK_MS,
      intervalMs: 500,
      description: 'the broker to close the consuming channel and the consumer to subscribe again',
    });
    expect(consumer.output()).toMatch(/the broker closed the consuming channel/);
    redisProxy.resume();

    const report = await drainAndCount(
      env,
      envelopes.map((e) => e.id),
      60_000,
    );
    expect(report).toEqual({ lost: [], duplicated: [] });
    // drainAndCount's own connection is closed by now; the consumer's must be the one it had.
    expect(await connections()).toEqual(connectionsBefore);
    await waitFor(async () => (await fetch(consumer.url('/health/ready'))).status === 200, {
      timeoutMs: 20_000,
      description: 'ready again',
    });
    await connection.close();
  }, 240_000);
});
