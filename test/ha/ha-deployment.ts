import * as amqplib from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { startOwnRabbitCluster, startOwnSentinelRedis, type OwnRabbitCluster, type OwnSentinelRedis } from '../support/own-ha';
import type { TestEnv } from '../support/test-env';

/**
 * The HA deployment of a run: a 3-node RabbitMQ cluster and a Redis primary + replica under three
 * Sentinels, all of the run's own. Shaped as a TestEnv (queueState(), processedCounts() work on it):
 * its AMQP connections go to whichever node answers, its Redis client follows the Sentinels.
 *
 * HA_REDIS_MODE=direct points the apps straight at the first data node instead of the Sentinel URL
 * (for builds that do not yet take redis+sentinel://); the Redis fault then kills the replica, since
 * a killed primary could not be followed.
 */
export type RedisMode = 'sentinel' | 'direct';

export interface HaDeployment extends TestEnv {
  cluster: OwnRabbitCluster;
  sentinelRedis: OwnSentinelRedis;
  redisMode: RedisMode;
  /** RABBITMQ_URL of the n-th app: every node, the list turned by n, so the apps start spread over the nodes. */
  rabbitmqUrl(n: number): string;
  /** REDIS_URL of the apps. */
  appRedisUrl: string;
}

const VHOST = 'ha';
const REDIS_DB = 1;
const WORK_QUEUE = 'messaging.consumer';

export function redisModeFromEnv(env: NodeJS.ProcessEnv = process.env): RedisMode {
  const mode = env.HA_REDIS_MODE ?? 'sentinel';
  if (mode !== 'sentinel' && mode !== 'direct') throw new Error(`HA_REDIS_MODE must be sentinel or direct, not ${mode}`);
  return mode;
}

export async function startHaDeployment(label: string, redisMode: RedisMode): Promise<HaDeployment> {
  const [rabbit, redis] = await Promise.allSettled([startOwnRabbitCluster({ label, size: 3 }), startOwnSentinelRedis({ label })]);
  if (rabbit.status === 'rejected' || redis.status === 'rejected') {
    if (rabbit.status === 'fulfilled') await rabbit.value.stop();
    if (redis.status === 'fulfilled') await redis.value.stop();
    throw rabbit.status === 'rejected' ? rabbit.reason : (redis as PromiseRejectedResult).reason;
  }
  const cluster = rabbit.value;
  const sentinelRedis = redis.value;
  const connections = new Set<ChannelModel>();
  let cleanedUp: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleanedUp ??= (async () => {
      await Promise.all([...connections].map((connection) => connection.close().catch(() => undefined)));
      await Promise.all([cluster.stop(), sentinelRedis.stop()]);
    })();
    return cleanedUp;
  };
  try {
    await cluster.addVhost(VHOST);
  } catch (error) {
    await cleanup();
    throw error;
  }

  /** A connection to the first node that takes one (a killed node is skipped). */
  const amqp = async (): Promise<ChannelModel> => {
    let lastError: unknown;
    for (const node of cluster.nodes) {
      try {
        const connection = await amqplib.connect(node.url(VHOST), { timeout: 2000 });
        connection.on('error', () => undefined);
        connections.add(connection);
        connection.on('close', () => connections.delete(connection));
        return connection;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  };
  const first = cluster.nodes[0];
  const primary = sentinelRedis.dataNodes[0];
  return {
    label,
    vhost: VHOST,
    amqpUrl: first.url(VHOST),
    redisUrl: sentinelRedis.url(REDIS_DB),
    redisDb: REDIS_DB,
    redis: sentinelRedis.client(REDIS_DB),
    amqp,
    amqpHost: '127.0.0.1',
    amqpPort: first.port,
    redisHost: '127.0.0.1',
    redisPort: primary.port,
    cleanup,
    cluster,
    sentinelRedis,
    redisMode,
    rabbitmqUrl: (n) => {
      const urls = cluster.nodes.map((node) => node.url(VHOST));
      const turn = n % urls.length;
      return [...urls.slice(turn), ...urls.slice(0, turn)].join(',');
    },
    appRedisUrl: redisMode === 'sentinel' ? sentinelRedis.url(REDIS_DB) : primary.url(REDIS_DB),
  };
}

/** The node leading the work queue now (its quorum leader). */
export async function workQueueLeader(deployment: HaDeployment): Promise<string> {
  return deployment.cluster.leaderOf(deployment.vhost, WORK_QUEUE);
}

/** Whether every node of the cluster is running (a restarted node has rejoined). */
export async function clusterWhole(deployment: HaDeployment): Promise<boolean> {
  for (const node of deployment.cluster.nodes) {
    try {
      const out = await node.ctl('cluster_status', '--formatter', 'json');
      const status = JSON.parse(out.slice(out.indexOf('{'))) as { running_nodes: string[] };
      return status.running_nodes.length === deployment.cluster.nodes.length;
    } catch {
      // a node that is down: ask the next one
    }
  }
  return false;
}

/** Queues of the vhost with their type and the nodes they have members on (quorum queues). */
export async function queueMembership(deployment: HaDeployment): Promise<{ name: string; type: string; members: string[] }[]> {
  for (const node of deployment.cluster.nodes) {
    try {
      const out = await node.ctl('list_queues', '-p', deployment.vhost, 'name', 'type', 'members', '--formatter', 'json', '--quiet');
      const rows = JSON.parse(out.slice(out.indexOf('['))) as { name: string; type: string; members?: string[] | string }[];
      return rows.map((row) => ({ name: row.name, type: row.type, members: Array.isArray(row.members) ? row.members : [] }));
    } catch {
      // ask the next node
    }
  }
  throw new Error('no RabbitMQ node answered list_queues');
}
