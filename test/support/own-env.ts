import * as amqplib from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { startOwnRabbit, type OwnRabbit, type OwnRabbitOptions } from './own-rabbitmq';
import { startOwnRedis, type OwnRedis, type OwnRedisOptions } from './own-redis';
import type { TestEnv } from './test-env';

/**
 * A TestEnv on servers the suite starts itself (a RabbitMQ node and a redis-server of its own), for
 * suites whose faults change a server: a memory alarm, maxmemory, a killed node. Same shape as
 * createTestEnv's, so appEnv(), queueState() and the FaultProxy wiring work unchanged; cleanup() stops
 * both servers.
 */
export interface OwnServersEnv extends TestEnv {
  rabbit: OwnRabbit;
  redisServer: OwnRedis;
}

export interface OwnServersOptions {
  rabbit?: Omit<OwnRabbitOptions, 'label'>;
  redis?: Omit<OwnRedisOptions, 'label'>;
}

const VHOST = 'suite';
const REDIS_DB = 1;

export async function createOwnServersEnv(label: string, options: OwnServersOptions = {}): Promise<OwnServersEnv> {
  const [rabbit, redisServer] = await Promise.allSettled([
    startOwnRabbit({ label, ...options.rabbit }),
    startOwnRedis({ label, ...options.redis }),
  ]);
  if (rabbit.status === 'rejected' || redisServer.status === 'rejected') {
    if (rabbit.status === 'fulfilled') await rabbit.value.stop();
    if (redisServer.status === 'fulfilled') await redisServer.value.stop();
    throw rabbit.status === 'rejected' ? rabbit.reason : (redisServer as PromiseRejectedResult).reason;
  }
  const node = rabbit.value;
  const redisNode = redisServer.value;
  try {
    await node.addVhost(VHOST);
  } catch (error) {
    await Promise.all([node.stop(), redisNode.stop()]);
    throw error;
  }

  const connections = new Set<ChannelModel>();
  const amqpUrl = node.url(VHOST);
  const amqp = async (): Promise<ChannelModel> => {
    const connection = await amqplib.connect(amqpUrl);
    connection.on('error', () => undefined);
    connections.add(connection);
    connection.on('close', () => connections.delete(connection));
    return connection;
  };
  let cleanedUp: Promise<void> | undefined;
  const redis = redisNode.client(REDIS_DB);
  return {
    label,
    vhost: VHOST,
    amqpUrl,
    redisUrl: redisNode.url(REDIS_DB),
    redisDb: REDIS_DB,
    redis,
    amqp,
    amqpHost: '127.0.0.1',
    amqpPort: node.port,
    redisHost: '127.0.0.1',
    redisPort: redisNode.port,
    rabbit: node,
    redisServer: redisNode,
    cleanup: () => {
      cleanedUp ??= (async () => {
        await Promise.all([...connections].map((connection) => connection.close().catch(() => undefined)));
        await Promise.all([node.stop(), redisNode.stop()]);
      })();
      return cleanedUp;
    },
  };
}
