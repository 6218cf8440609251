import { createEnvelope, toWireMessage } from '@app/messaging/envelope';
import { IdempotencyGuard } from '@app/messaging/idempotency/idempotency-guard';
import { IdempotencyStore } from '@app/messaging/idempotency/idempotency-store';
import { RedisEffect } from '@app/messaging/idempotency/redis-effect';
import { OutboxStore } from '@app/messaging/outbox/outbox-store';
import { createRedisClient } from '@app/messaging/redis/redis-client';
import { ReplicaAcks, ReplicaAckShortfallError } from '@app/messaging/redis/replica-acks';
import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { startOwnSentinelRedis, type OwnSentinelRedis } from '../support/own-ha';
import { startOwnRedis, type OwnRedis } from '../support/own-redis';
import { waitFor } from '../support/wait-for';

/**
 * REDIS_MIN_REPLICA_ACKS on servers of the suite's own: an outbox write and a consumer's commit count
 * only once a replica has them (Redis WAIT), a shortfall is a failed write (the producer refuses, the
 * guard holds and commits again), and with a Sentinel URL the client follows a failover, finding on
 * the promoted replica every write it was told was replicated.
 */
const POLICY = { minReplicaAcks: 1, replicaAckTimeoutMs: 300 };
const STREAM = 'replicated:processed';

const message = (id: string) => toWireMessage(createEnvelope('order.created', { id }, id));

describe('replicated writes (REDIS_MIN_REPLICA_ACKS = 1)', () => {
  let primary: OwnRedis;
  let replica: OwnRedis;
  let client: Redis;
  let primaryAdmin: Redis;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    primary = await startOwnRedis({ label: 'wait-primary' });
    replica = await startOwnRedis({ label: 'wait-replica', args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    primaryAdmin = primary.client();
    client = createRedisClient(primary.url(0), 1000, 'replicated-writes');
    await waitFor(async () => client.status === 'ready' && (await replicaCount()) === 1, {
      timeoutMs: 15_000,
      description: 'the replica to connect',
    });
  });

  afterAll(async () => {
    client?.disconnect();
    await Promise.all([replica?.stop(), primary?.stop()]);
    Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']);
  });

  /** Replicas past their initial sync (WAIT counts only those). */
  async function replicaCount(): Promise<number> {
    const info = await primaryAdmin.info('replication');
    return (info.match(/^slave\d+:.*state=online/gm) ?? []).length;
  }

  async function withReplicaDown<T>(work: () => Promise<T>): Promise<T> {
    await replica.kill();
    await waitFor(async () => (await replicaCount()) === 0, { timeoutMs: 15_000, description: 'the primary to lose its replica' });
    try {
      return await work();
    } finally {
      await replica.restart();
      await waitFor(async () => (await replicaCount()) === 1, { timeoutMs: 15_000, description: 'the replica to come back' });
    }
  }

  it('stores an outbox record only once the replica has it; without the replica the write fails', async () => {
    const outbox = new OutboxStore(client, 'replicated', new ReplicaAcks(client, POLICY));
    await outbox.store(message('o-1'), 'test');
    expect(await replica.client().hget('replicated:{outbox}:record:o-1', 'type')).toBe('order.created');

    await withReplicaDown(async () => {
      await expect(outbox.store(message('o-2'), 'test')).rejects.toBeInstanceOf(ReplicaAckShortfallError);
    });
    // Stored again (a client's retry with the same Idempotency-Key): the record is kept once and now replicated.
    await outbox.store(message('o-2'), 'test');
    expect(await replica.client().hget('replicated:{outbox}:record:o-2', 'type')).toBe('order.created');
    expect(await client.zcard('replicated:{outbox}:due')).toBe(2);
  });

  it('holds a commit the replica did not acknowledge and commits it once when the replica is back', async () => {
    const store = new IdempotencyStore(client, 'replicated', 3600, new ReplicaAcks(client, POLICY));
    const guard = new IdempotencyGuard(store, { lockTtlMs: 5000, maxWaitMs: 200, holdBoundMs: 60_000 });
    const effect = (id: string) => () => Promise.resolve(RedisEffect.of(['XADD', STREAM, '*', 'id', id]));

    let outcome: Promise<string> | undefined;
    await withReplicaDown(async () => {
      await expect(store.commit('c-1', [])).rejects.toBeInstanceOf(ReplicaAckShortfallError);
      outcome = guard.run('c-2', 'atomic', effect('c-2'));
      // Held while the replica is away: the commit ran on the primary, its WAIT fell short, no answer yet.
      await waitFor(async () => (await client.xlen(STREAM)) === 1, { timeoutMs: 5000, description: 'the first commit on the primary' });
      const settled = await Promise.race([outcome.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 1000))]);
      expect(settled).toBe(false);
    });
    // Commits again (the mark is found done, refreshed and replicated): one effect, and the mark on the replica.
    await expect(outcome).resolves.toBe('duplicate');
    expect(await client.xlen(STREAM)).toBe(1);
    await waitFor(async () => (await replica.client().exists('replicated:{c-2}:done')) === 1, {
      timeoutMs: 5000,
      description: 'the done mark on the replica',
    });
    // A mark found done is replicated before the duplicate is acknowledged too.
    await expect(guard.run('c-2', 'exclusive', effect('c-2'))).resolves.toBe('duplicate');
    expect(await client.xlen(STREAM)).toBe(1);
  });
});

describe('a Sentinel URL (redis+sentinel://)', () => {
  let ha: OwnSentinelRedis;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    ha = await startOwnSentinelRedis({ label: 'wait-sentinel' });
  });

  afterAll(async () => {
    await ha?.stop();
    Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']);
  });

  it('follows a failover: every write acknowledged by the replica is on the promoted primary, and writes go on', async () => {
    const client = createRedisClient(ha.url(3), 1000, 'sentinel-test');
    try {
      const outbox = new OutboxStore(client, 'ha', new ReplicaAcks(client, POLICY));
      await waitFor(() => Promise.resolve(client.status === 'ready'), { timeoutMs: 10_000, description: 'the Sentinel client' });
      await waitFor(async () => /state=online/.test(await (await ha.primary()).client().info('replication')), {
        timeoutMs: 20_000,
        description: 'the replica to finish its initial sync',
      });
      // Just after its initial sync a replica may not answer acks yet: wait until it does.
      await waitFor(
        async () => {
          await client.set('ha:warm-up', String(Date.now()));
          return (await client.wait(1, 300)) >= 1;
        },
        { timeoutMs: 20_000, description: 'the replica to acknowledge writes' },
      );
      const acknowledged: string[] = [];
      for (let i = 0; i < 200; i++) {
        await outbox.store(message(`s-${i}`), 'test');
        acknowledged.push(`s-${i}`);
      }
      const old = await ha.primary();
      await old.kill();
      await waitFor(async () => (await ha.primary()).port !== old.port, {
        timeoutMs: 30_000,
        description: 'the Sentinels to promote the replica',
      });
      const promoted = await ha.primary();
      // With one replica required, writes wait for the old primary to come back as a replica of the new
      // one (a supervisor's start script points it there, as the Sentinels would a little later).
      await old.restart();
      await old.client().call('REPLICAOF', '127.0.0.1', String(promoted.port));
      // The client finds the promoted replica through the Sentinels and writes there, without a restart.
      await waitFor(
        async () => {
          await outbox.store(message('after-failover'), 'test');
          return true;
        },
        { timeoutMs: 30_000, intervalMs: 250, description: 'a write through the Sentinel URL after the failover' },
      );
      expect(promoted.port).not.toBe(old.port);
      const due = new Set(await promoted.client(3).zrange('ha:{outbox}:due', 0, -1));
      expect(acknowledged.filter((id) => !due.has(id))).toEqual([]);
      expect(due.has('after-failover')).toBe(true);
    } finally {
      client.disconnect();
    }
  });
});

describe('what replica acknowledgements cannot buy', () => {
  let primary: OwnRedis;
  let upToDate: OwnRedis;
  let behind: OwnRedis;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    primary = await startOwnRedis({ label: 'wait-limit-primary' });
    const replicaOf = ['--replicaof', '127.0.0.1', String(primary.port)];
    [upToDate, behind] = await Promise.all([
      startOwnRedis({ label: 'wait-limit-a', args: replicaOf }),
      startOwnRedis({ label: 'wait-limit-b', args: replicaOf }),
    ]);
    const admin = primary.client();
    await waitFor(async () => ((await admin.info('replication')).match(/state=online/g) ?? []).length === 2, {
      timeoutMs: 15_000,
      description: 'both replicas in sync',
    });
  });

  afterAll(async () => {
    await Promise.all([primary?.stop(), upToDate?.stop(), behind?.stop()]);
    Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']);
  });

  it('with more replicas than REDIS_MIN_REPLICA_ACKS, promoting the one that missed a write loses that acknowledged write', async () => {
    const client = createRedisClient(primary.url(0), 1000, 'wait-limit');
    try {
      await waitFor(() => Promise.resolve(client.status === 'ready'), { timeoutMs: 10_000, description: 'the client' });
      // One replica is cut off from the primary (as by a partition): it stops taking the replication stream.
      const lagging = behind.client();
      await lagging.call('REPLICAOF', 'NO', 'ONE');
      const outbox = new OutboxStore(client, 'limit', new ReplicaAcks(client, POLICY));
      await outbox.store(message('acknowledged'), 'test');
      expect(await upToDate.client().zscore('limit:{outbox}:due', 'acknowledged')).not.toBeNull();
      // The primary dies and the replica that missed the write is the one promoted.
      await primary.kill();
      process.kill(behind.pid() as number, 'SIGCONT');
      const promoted = behind.client();
      await waitFor(async () => (await promoted.call('REPLICAOF', 'NO', 'ONE')) === 'OK', {
        timeoutMs: 10_000,
        description: 'the promotion',
      });
      expect(await promoted.zscore('limit:{outbox}:due', 'acknowledged')).toBeNull();
    } finally {
      client.disconnect();
    }
  });
});
