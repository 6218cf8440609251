/**
 * The dead-letter index and its queue agree: the index the console groups and lists from holds
 * exactly the messages of the DLQ, after dead-lettering by the failure router, retries (some
 * processed, some dead-lettered again), deletes of letters and of a whole group, and a crash between
 * the queue's write and the index's on either side (a DLQ copy whose index write was lost, a letter
 * taken out of the queue whose index entry stayed). The console restores agreement by itself: the
 * counts it polls disagree, and after its grace period one pass over the queue reconciles them.
 * Listing never takes a message out of the queue (the delivery counts stay as they were).
 */
import { createEnvelope, HEADERS, publishProperties, toWireMessage } from '@app/messaging/envelope';
import { DeadLetterIndex } from '@app/messaging/dead-letters';
import type { ChannelModel } from 'amqplib';
import { startApp, stopAll, type AppProcess } from '../support/app-process';
import { processedCounts } from '../support/processed';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';

const QUEUE = 'messaging.consumer';
const DLQ = 'messaging.consumer.dlq';
const EXCHANGE = 'messaging.events';
const STREAM = 'messaging:processed';

describe('dead-letter index and queue agreement', () => {
  let env: TestEnv;
  let consumer: AppProcess;
  let amqp: ChannelModel;
  let index: DeadLetterIndex;

  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(consumer.url(`/console/api${path}`), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`);
    return response.json() as Promise<Record<string, unknown>>;
  };

  /** The DLQ's messages by id, with their delivery counts; every message is handed back (the test's own read counts once). */
  const queueContents = async (): Promise<Map<string, number>> => {
    const channel = await amqp.createChannel();
    const seen = new Map<string, number>();
    try {
      const total = (await channel.checkQueue(DLQ)).messageCount;
      for (let i = 0; i < total; i++) {
        const message = await channel.get(DLQ, { noAck: false });
        if (!message) break;
        seen.set(message.properties.messageId as string, Number(message.properties.headers?.['x-delivery-count'] ?? 0));
      }
    } finally {
      await channel.close();
    }
    return seen;
  };
  const indexed = async () => [...(await index.allKeys(DLQ))].sort();
  const queued = async () => [...(await queueContents()).keys()].sort();
  const agreement = async () => {
    const [inIndex, inQueue] = await Promise.all([indexed(), queued()]);
    return { inIndex, inQueue, agree: JSON.stringify(inIndex) === JSON.stringify(inQueue) };
  };
  const dlqDepth = async () => {
    const channel = await amqp.createChannel();
    try {
      return (await channel.checkQueue(DLQ)).messageCount;
    } finally {
      await channel.close();
    }
  };
  const waitForDepth = (depth: number) =>
    waitFor(async () => (await dlqDepth()) === depth && (await index.count(DLQ)) === depth, {
      timeoutMs: 20_000,
      description: `DLQ at ${depth}`,
    });

  const publish = async (payload: Record<string, unknown>, count: number, type: string): Promise<string[]> => {
    const channel = await amqp.createConfirmChannel();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const wire = toWireMessage(createEnvelope(type, { ...payload, n: i }), `corr-${type}-${i}`);
      channel.publish(EXCHANGE, type, wire.body, publishProperties(wire));
      ids.push(wire.id);
    }
    await channel.waitForConfirms();
    await channel.close();
    return ids;
  };

  beforeAll(async () => {
    env = await createTestEnv('console-index');
    consumer = await startApp(
      'consumer',
      {
        ...appEnv(env),
        CONSUMER_SIMULATED_FAILURES: 'on',
        CONSUMER_MAX_ATTEMPTS: '2',
        CONSUMER_RETRY_BASE_DELAY_MS: '50',
        CONSUMER_RETRY_MAX_DELAY_MS: '50',
      },
      { ready: true },
    );
    amqp = await env.amqp();
    index = new DeadLetterIndex(env.redis, 'messaging');
  });

  afterAll(async () => {
    await stopAll();
    await env?.cleanup();
  });

  let fixable: string[];
  let hopeless: string[];

  it('indexes every message the failure router dead-letters, and listing leaves the queue untouched', async () => {
    await env.redis.set(STREAM, 'a string: the handler effect fails with WRONGTYPE');
    fixable = await publish({}, 30, 'order.created');
    hopeless = await publish({ simulateFailure: { always: true } }, 20, 'order.doomed');
    await waitForDepth(50);
    await env.redis.del(STREAM);
    expect(await agreement()).toMatchObject({ agree: true });

    const before = await queueContents();
    const overview = await api('GET', '/overview');
    const groups = overview.groups as { group: string; type: string; count: number }[];
    expect(groups.map((g) => [g.type, g.count]).sort()).toEqual([
      ['order.created', 30],
      ['order.doomed', 20],
    ]);
    for (const group of groups) await api('GET', `/dead-letters/${DLQ}/groups/${group.group}?limit=1000`);
    await api('GET', `/dead-letters/${DLQ}/letters/${fixable[0]}`);
    await api('GET', `/search?q=${fixable[1]}`);
    const after = await queueContents();
    // Each read of the test's own handed every message back once; the console's listings none.
    for (const [id, count] of before) expect(after.get(id)).toBe(count + 1);
  });

  it('agrees after retries (processed ones leave, failing ones come back) and deletes', async () => {
    const retried = await api('POST', '/dead-letters/retry', { queue: DLQ, keys: [...fixable.slice(0, 10), ...hopeless.slice(0, 5)] });
    expect((retried.retried as string[]).length).toBe(15);
    await waitFor(
      async () => {
        const counts = await processedCounts(env.redis);
        return fixable.slice(0, 10).every((id) => counts.get(id) === 1);
      },
      { timeoutMs: 20_000, description: 'the fixed ones processed once' },
    );
    await waitForDepth(40);
    expect(await agreement()).toMatchObject({ agree: true });

    const deleted = await api('POST', '/dead-letters/delete', { queue: DLQ, keys: fixable.slice(10, 15) });
    expect((deleted.deleted as string[]).sort()).toEqual(fixable.slice(10, 15).sort());
    const doomed = ((await api('GET', '/overview')).groups as { group: string; type: string }[]).find((g) => g.type === 'order.doomed');
    const groupDeleted = await api('POST', '/dead-letters/delete', { queue: DLQ, group: doomed?.group });
    expect((groupDeleted.deleted as string[]).length).toBe(20);
    await waitForDepth(15);
    expect(await agreement()).toMatchObject({ agree: true });
  });

  it('restores agreement by itself after a crash between the queue write and the index write, on either side', async () => {
    // Dead-lettering crashed after the DLQ copy was confirmed, before the index write: 3 copies only in the queue.
    const channel = await amqp.createConfirmChannel();
    const unindexed = [1, 2, 3].map((n) => toWireMessage(createEnvelope('order.lost', { n })));
    for (const wire of unindexed) {
      const properties = publishProperties(wire);
      properties.headers = { ...properties.headers, [HEADERS.failureKind]: 'exhausted', [HEADERS.failureReason]: 'crash test' };
      channel.publish('messaging.dead-letter', QUEUE, wire.body, properties);
    }
    await channel.waitForConfirms();
    // A removal crashed after its ack, before the index removal: 1 letter gone from the queue, still indexed.
    const taken = await channel.get(DLQ, { noAck: false });
    if (!taken) throw new Error('the DLQ is empty');
    channel.ack(taken);
    await channel.checkQueue(DLQ);
    await channel.close();

    const broken = await agreement();
    expect(broken.agree).toBe(false);
    expect(broken.inQueue.filter((id) => !broken.inIndex.includes(id)).sort()).toEqual(unindexed.map((w) => w.id).sort());
    expect(broken.inIndex.filter((id) => !broken.inQueue.includes(id))).toEqual([taken.properties.messageId]);

    // The console's own polling (as an open page does) notices the counts disagree and reconciles.
    await waitFor(
      async () => {
        const rows = (await api('GET', '/overview')).deadLetters as { indexed: number; inQueue: number }[];
        return rows[0].indexed === 17 && rows[0].inQueue === 17;
      },
      { timeoutMs: 30_000, intervalMs: 1000, description: 'index reconciled with the queue' },
    );
    expect(await agreement()).toMatchObject({ agree: true });
    const lost = ((await api('GET', '/overview')).groups as { type: string; count: number }[]).find((g) => g.type === 'order.lost');
    expect(lost?.count).toBe(3);
  });
});
