import Redis from 'ioredis';
import { startOwnRabbit, type OwnRabbit } from './own-rabbitmq';
import { startOwnRedis, type OwnRedis } from './own-redis';
import { waitFor } from './wait-for';

/**
 * High-availability deployments of the suite's own: a RabbitMQ cluster of own nodes, and a Redis
 * primary with a replica under three Sentinels. Built from own-rabbitmq.ts and own-redis.ts, so the
 * machine's servers are never touched and everything dies with the test process.
 */
export interface OwnRabbitCluster {
  nodes: OwnRabbit[];
  /** The comma-separated URL list the apps take as RABBITMQ_URL, every node in turn. */
  urls(vhost: string): string;
  addVhost(vhost: string): Promise<void>;
  /** The node a queue's leader lives on (quorum queues), e.g. 'own-ha-1@localhost'. */
  leaderOf(vhost: string, queue: string): Promise<string>;
  /** The nodes a quorum queue has members on. */
  membersOf(vhost: string, queue: string): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startOwnRabbitCluster(options: { label: string; size?: number; config?: string[] }): Promise<OwnRabbitCluster> {
  const size = options.size ?? 3;
  const started = await Promise.allSettled(
    Array.from({ length: size }, (_, i) =>
      startOwnRabbit({ label: `${options.label}${i + 1}`, config: options.config, startTimeoutMs: 150_000 }),
    ),
  );
  const nodes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  try {
    const [first, ...others] = nodes;
    for (const node of others) {
      await node.ctl('stop_app');
      await node.ctl('join_cluster', first.nodeName);
      await node.ctl('start_app');
    }
    const running = async () => {
      const out = await first.ctl('cluster_status', '--formatter', 'json');
      return (JSON.parse(out.slice(out.indexOf('{'))) as { running_nodes: string[] }).running_nodes.length;
    };
    await waitFor(async () => (await running()) === size, {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: `a ${size}-node cluster to form`,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const anyNode = async <T>(work: (node: OwnRabbit) => Promise<T>): Promise<T> => {
    let lastError: unknown;
    for (const node of nodes) {
      try {
        return await work(node);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  };
  const queueColumn = async (vhost: string, queue: string, column: string): Promise<unknown> => {
    const out = await anyNode((node) => node.ctl('list_queues', '-p', vhost, 'name', column, '--formatter', 'json', '--quiet'));
    const rows = JSON.parse(out.slice(out.indexOf('['))) as Record<string, unknown>[];
    const row = rows.find((candidate) => candidate.name === queue);
    if (!row) throw new Error(`no queue ${queue} in ${vhost}`);
    return row[column];
  };
  return {
    nodes,
    urls: (vhost) => nodes.map((node) => node.url(vhost)).join(','),
    addVhost: (vhost) => anyNode((node) => node.addVhost(vhost)),
    leaderOf: async (vhost, queue) => String(await queueColumn(vhost, queue, 'leader')),
    membersOf: async (vhost, queue) => (await queueColumn(vhost, queue, 'members')) as string[],
    stop,
  };
}

export interface OwnSentinelRedis {
  masterName: string;
  /** The two data nodes: the first starts as primary, the second as its replica. */
  dataNodes: OwnRedis[];
  sentinels: OwnRedis[];
  /** redis+sentinel://127.0.0.1:<s1>,127.0.0.1:<s2>,127.0.0.1:<s3>/<master>/<db> */
  url(db?: number): string;
  /** The data node the Sentinels name as primary now. */
  primary(): Promise<OwnRedis>;
  /** A client on the current primary (found through the Sentinels), closed by stop(). */
  client(db?: number): Redis;
  stop(): Promise<void>;
}

export async function startOwnSentinelRedis(options: { label: string; masterName?: string }): Promise<OwnSentinelRedis> {
  const masterName = options.masterName ?? 'suite-primary';
  const clients: Redis[] = [];
  const started: OwnRedis[] = [];
  const stop = async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(started.map((server) => server.stop()));
  };
  try {
    // A full sync starts at once, not after the default 5 s wait for more replicas (diskless sync):
    // a replica (first start, or an old primary coming back) holds the data within a second.
    const syncNow = ['--repl-diskless-sync-delay', '0'];
    const primary = await startOwnRedis({ label: `${options.label}-data1`, args: syncNow });
    started.push(primary);
    const replica = await startOwnRedis({
      label: `${options.label}-data2`,
      args: [...syncNow, '--replicaof', '127.0.0.1', String(primary.port)],
    });
    started.push(replica);
    const sentinelConfig = [
      `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} 2`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 5000`,
      `sentinel parallel-syncs ${masterName} 1`,
      '',
    ].join('\n');
    const sentinels = await Promise.all(
      [1, 2, 3].map((i) => startOwnRedis({ label: `${options.label}-sentinel${i}`, sentinel: true, configFile: sentinelConfig })),
    );
    started.push(...sentinels);
    const dataNodes = [primary, replica];
    const primaryPort = async (): Promise<number> => {
      for (const sentinel of sentinels) {
        const client = new Redis({
          port: sentinel.port,
          host: '127.0.0.1',
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          const [, port] = (await client.call('SENTINEL', 'get-master-addr-by-name', masterName)) as [string, string];
          return Number(port);
        } catch {
          // ask the next one
        } finally {
          client.disconnect();
        }
      }
      throw new Error('no Sentinel answered');
    };
    await waitFor(
      async () => {
        const info = await primary.client().info('replication');
        // `online`, not just connected: a replica waiting for its first sync (wait_bgsave) holds nothing yet.
        return /slave0:[^\r\n]*state=online/.test(info) && (await primaryPort()) === primary.port;
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'the replica to sync and the Sentinels to see the primary' },
    );
    return {
      masterName,
      dataNodes,
      sentinels,
      url: (db = 0) => `redis+sentinel://${sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(',')}/${masterName}/${db}`,
      primary: async () => {
        const port = await primaryPort();
        const node = dataNodes.find((candidate) => candidate.port === port);
        if (!node) throw new Error(`the Sentinels name an unknown primary on port ${port}`);
        return node;
      },
      client: (db = 0) => {
        const client = new Redis({
          sentinels: sentinels.map((sentinel) => ({ host: '127.0.0.1', port: sentinel.port })),
          name: masterName,
          db,
          maxRetriesPerRequest: 1,
        });
        client.on('error', () => undefined);
        clients.push(client);
        return client;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
