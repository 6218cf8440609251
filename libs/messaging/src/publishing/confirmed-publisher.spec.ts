import type { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Logger } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { loadMessagingSettings } from '../config';
import { MessagingMetrics } from '../metrics';
import { ConfirmedPublisher } from './confirmed-publisher';
import { PublishFailedError } from './publish-errors';

type Confirm = (err: unknown) => void;

/**
 * A confirm channel that keeps the confirm callbacks, for the test to call (or not), the way amqplib's
 * does: the callback is registered before the message is encoded, so `throwOnNextPublish` leaves it
 * behind, as an encoding error in amqplib would.
 */
class FakeChannel extends EventEmitter {
  readonly confirms: Confirm[] = [];
  readonly published: string[] = [];
  throwOnNextPublish?: Error;
  closed = false;

  publish(_exchange: string, _key: string, _body: Buffer, options: { messageId: string }, confirm: Confirm): boolean {
    this.confirms.push(confirm);
    const error = this.throwOnNextPublish;
    this.throwOnNextPublish = undefined;
    if (error) throw error;
    this.published.push(options.messageId);
    return true;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  assertExchange = () => Promise.resolve();
  assertQueue = () => Promise.resolve();
  bindQueue = () => Promise.resolve();
}

/** The connection manager golevelup exposes as `managedConnection`, with a connection that opens fake channels. */
class FakeManager extends EventEmitter {
  readonly channels: FakeChannel[] = [];
  readonly connection = {
    createConfirmChannel: () => {
      const channel = new FakeChannel();
      this.channels.push(channel);
      return Promise.resolve(channel);
    },
  };
  isConnected = () => true;
}

interface Limits {
  confirmTimeoutMs?: number;
  maxInFlight?: number;
  maxInFlightBytes?: number;
}

const publishers: ConfirmedPublisher[] = [];

/** A publisher bootstrapped on a fake manager, with its first channel open. */
async function publisherOn(limits: Limits = {}) {
  const settings = loadMessagingSettings({
    PUBLISH_CONFIRM_TIMEOUT_MS: String(limits.confirmTimeoutMs ?? 10_000),
    PUBLISH_MAX_IN_FLIGHT: String(limits.maxInFlight ?? 1000),
    PUBLISH_MAX_IN_FLIGHT_BYTES: String(limits.maxInFlightBytes ?? 64 * 1024 * 1024),
    // Small windows need a batch and a body that fit them (the settings' consistency rules).
    OUTBOX_REPLAY_BATCH_SIZE: '1',
    MAX_BODY_BYTES: '1024',
  });
  const manager = new FakeManager();
  const metrics = new MessagingMetrics();
  const publisher = new ConfirmedPublisher({ managedConnection: manager } as unknown as AmqpConnection, settings, metrics);
  publishers.push(publisher);
  publisher.onApplicationBootstrap();
  await waitUntil(() => publisher.isReady());
  return { publisher, manager, metrics, channel: () => manager.channels[manager.channels.length - 1] };
}

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}

const message = (id: string, bytes = 2) => ({ id, type: 'order.created', body: Buffer.alloc(bytes, 'x') });

async function failureOf(promise: Promise<unknown>): Promise<PublishFailedError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PublishFailedError);
    return error as PublishFailedError;
  }
  throw new Error('expected the publish to fail');
}

async function metricValue(metrics: MessagingMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([key, label]) => v.labels[key] === label));
  return value?.value ?? 0;
}

beforeAll(() => Logger.overrideLogger(false));

afterEach(async () => {
  await Promise.all(publishers.splice(0).map((publisher) => publisher.onApplicationShutdown()));
});

describe('ConfirmedPublisher: confirms', () => {
  it('resolves on the confirm and rejects on a nack, each publish on its own', async () => {
    const { publisher, channel } = await publisherOn();
    const first = publisher.publish(message('m-1'));
    const second = publisher.publish(message('m-2'));
    channel().confirms[1](new Error('message nacked'));
    channel().confirms[0](null);
    await expect(first).resolves.toBeUndefined();
    const nack = await failureOf(second);
    expect(nack.kind).toBe('nacked');
    expect(nack.belongsToMessage).toBe(true);
  });

  it('rejects a message returned as unroutable before its ack', async () => {
    const { publisher, channel } = await publisherOn();
    const sent = publisher.publish(message('m-1'));
    channel().emit('return', { properties: { messageId: 'm-1' } });
    channel().confirms[0](null);
    expect((await failureOf(sent)).kind).toBe('returned');
  });

  it('fails a publish whose confirm does not come within the timeout; the confirm that comes later is reported as late', async () => {
    const { publisher, channel, metrics } = await publisherOn({ confirmTimeoutMs: 60 });
    const late: string[] = [];
    publisher.onLateConfirm((id) => late.push(id));
    const started = Date.now();
    const failure = await failureOf(publisher.publish(message('m-late')));
    expect(failure).toMatchObject({ kind: 'timeout', messageId: 'm-late', belongsToMessage: false });
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(55);
    expect(waited).toBeLessThan(60 + 200);
    expect(await metricValue(metrics, 'messaging_publish_in_flight')).toBe(1);

    channel().confirms[0](null);
    expect(late).toEqual(['m-late']);
    expect(await metricValue(metrics, 'messaging_publish_late_confirms_total')).toBe(1);
    expect(await metricValue(metrics, 'messaging_publish_in_flight')).toBe(0);
    expect(await metricValue(metrics, 'messaging_publish_failures_total', { kind: 'timeout' })).toBe(1);
  });

  it('times out only the overdue publishes, oldest first', async () => {
    const { publisher, channel } = await publisherOn({ confirmTimeoutMs: 100 });
    const old = publisher.publish(message('m-old'));
    await new Promise((resolve) => setTimeout(resolve, 60));
    const young = publisher.publish(message('m-young'));
    expect((await failureOf(old)).kind).toBe('timeout');
    channel().confirms[1](null);
    await expect(young).resolves.toBeUndefined();
  });

  it('fails every outstanding publish when the channel goes, not as a nack, and refuses at once without a channel', async () => {
    const { publisher, channel, manager } = await publisherOn();
    const failures = [publisher.publish(message('m-a')), publisher.publish(message('m-b'))].map(failureOf);
    // amqplib settles a closing channel's confirms with this error before its 'close' listeners run.
    for (const confirm of channel().confirms) confirm(new Error('channel closed'));
    for (const failure of await Promise.all(failures)) expect(failure.kind).toBe('channel-closed');

    manager.isConnected = () => false;
    manager.emit('disconnect', {});
    expect(publisher.isReady()).toBe(false);
    expect(publisher.notReadyReason()).toBe('broker not connected');
    expect((await failureOf(publisher.publish(message('m-c')))).kind).toBe('not-connected');
  });
});

describe('ConfirmedPublisher.send (the callback form of publish)', () => {
  it('answers once per publish: with nothing on the confirm, the failure on a nack or a timeout; a refusal before it returns', async () => {
    const { publisher, channel, manager } = await publisherOn({ confirmTimeoutMs: 50 });
    const answers: Record<string, (string | undefined)[]> = { a: [], b: [], c: [], d: [] };
    const answer = (id: string) => (error?: PublishFailedError) => answers[id].push(error?.kind);
    publisher.send(message('a'), undefined, answer('a'));
    publisher.send(message('b'), undefined, answer('b'));
    publisher.send(message('c'), undefined, answer('c'));
    channel().confirms[0](null);
    channel().confirms[1](new Error('message nacked'));
    await new Promise((resolve) => setTimeout(resolve, 150));
    channel().confirms[2](null);
    manager.emit('blocked', { reason: 'low on memory' });
    publisher.send(message('d'), undefined, answer('d'));
    expect(answers).toEqual({ a: [undefined], b: ['nacked'], c: ['timeout'], d: ['blocked'] });
  });
});

describe('ConfirmedPublisher: bounds on the confirms in flight', () => {
  it('fails a send beyond PUBLISH_MAX_IN_FLIGHT at once, without sending it, until a confirm frees a place', async () => {
    const { publisher, channel, metrics } = await publisherOn({ maxInFlight: 2 });
    const first = publisher.publish(message('m-1'));
    publisher.publish(message('m-2')).catch(() => undefined);
    const refused = await failureOf(publisher.publish(message('m-3')));
    expect(refused).toMatchObject({ kind: 'backpressure', belongsToMessage: false, wasSent: false });
    expect(refused.message).toContain('PUBLISH_MAX_IN_FLIGHT');
    expect(channel().published).toEqual(['m-1', 'm-2']);
    expect(await metricValue(metrics, 'messaging_publish_failures_total', { kind: 'backpressure' })).toBe(1);

    channel().confirms[0](null);
    await first;
    const fourth = publisher.publish(message('m-4'));
    channel().confirms[2](null);
    await expect(fourth).resolves.toBeUndefined();
  });

  it('keeps a timed-out publish in flight until the broker answers it (its frames may still be queued)', async () => {
    const { publisher, channel } = await publisherOn({ maxInFlight: 1, confirmTimeoutMs: 50 });
    expect((await failureOf(publisher.publish(message('m-1')))).kind).toBe('timeout');
    expect((await failureOf(publisher.publish(message('m-2')))).kind).toBe('backpressure');
    channel().confirms[0](null);
    const third = publisher.publish(message('m-3'));
    channel().confirms[1](null);
    await expect(third).resolves.toBeUndefined();
  });

  it('bounds the body bytes in flight by PUBLISH_MAX_IN_FLIGHT_BYTES, but always admits a message into an empty window', async () => {
    const { publisher, channel, metrics } = await publisherOn({ maxInFlightBytes: 64 * 1024 });
    const first = publisher.publish(message('m-1', 40 * 1024));
    expect(await metricValue(metrics, 'messaging_publish_in_flight_bytes')).toBe(40 * 1024);
    const refused = await failureOf(publisher.publish(message('m-2', 40 * 1024)));
    expect(refused.kind).toBe('backpressure');
    expect(refused.message).toContain('PUBLISH_MAX_IN_FLIGHT_BYTES');
    channel().confirms[0](null);
    await first;

    const big = publisher.publish(message('m-big', 100 * 1024));
    channel().confirms[1](null);
    await expect(big).resolves.toBeUndefined();
    expect(channel().published).toEqual(['m-1', 'm-big']);
  });
});

describe('ConfirmedPublisher: a connection blocked by the broker (resource alarm)', () => {
  it('is not ready while blocked, says why, and refuses at once without sending; ready again when unblocked', async () => {
    const { publisher, manager, channel, metrics } = await publisherOn();
    manager.emit('blocked', { reason: 'low on memory' });

    expect(publisher.isReady()).toBe(false);
    expect(publisher.notReadyReason()).toBe('broker connection blocked: low on memory');
    expect(await metricValue(metrics, 'messaging_broker_blocked')).toBe(1);
    const refused = await failureOf(publisher.publish(message('m-1')));
    expect(refused).toMatchObject({ kind: 'blocked', belongsToMessage: false, wasSent: false });
    expect(channel().published).toEqual([]);

    manager.emit('unblocked');
    expect(publisher.notReadyReason()).toBeUndefined();
    expect(await metricValue(metrics, 'messaging_broker_blocked')).toBe(0);
    const sent = publisher.publish(message('m-2'));
    channel().confirms[0](null);
    await expect(sent).resolves.toBeUndefined();
  });

  it('lets the publishes sent before the block end by their confirm or their timeout', async () => {
    const { publisher, manager, channel } = await publisherOn({ confirmTimeoutMs: 50 });
    const confirmed = publisher.publish(message('m-1'));
    const stuck = publisher.publish(message('m-2'));
    manager.emit('blocked', { reason: 'low on memory' });
    channel().confirms[0](null);
    await expect(confirmed).resolves.toBeUndefined();
    expect((await failureOf(stuck)).kind).toBe('timeout');
  });

  it('forgets the block when the connection is lost (a new connection starts unblocked)', async () => {
    const { publisher, manager } = await publisherOn();
    manager.emit('blocked', { reason: 'low on disk' });
    manager.emit('disconnect', {});
    manager.emit('connect', { connection: manager.connection });
    await waitUntil(() => publisher.isReady());
    expect(manager.channels).toHaveLength(2);
  });
});

describe('ConfirmedPublisher: a publish that throws retires its channel', () => {
  it('fails that publish and every other in flight, closes the channel and opens a fresh one', async () => {
    const { publisher, manager } = await publisherOn();
    const old = manager.channels[0];
    const before = [publisher.publish(message('m-1')), publisher.publish(message('m-2'))].map(failureOf);
    old.throwOnNextPublish = new RangeError('shortstr too long');
    const thrown = await failureOf(publisher.publish(message('m-bad')));
    expect(thrown).toMatchObject({ kind: 'unpublishable', belongsToMessage: true });
    for (const failure of await Promise.all(before)) expect(failure.kind).toBe('channel-closed');
    expect(old.closed).toBe(true);

    await waitUntil(() => publisher.isReady() && manager.channels.length === 2);
    const fresh = manager.channels[1];
    const next = publisher.publish(message('m-3'));
    // The old channel's confirms, shifted by the callback left behind, settle nothing any more.
    for (const confirm of old.confirms) confirm(null);
    expect(fresh.published).toEqual(['m-3']);
    fresh.confirms[0](new Error('message nacked'));
    expect((await failureOf(next)).kind).toBe('nacked');
  });

  it('counts a publish on a channel amqplib already closed as a lost channel, not the message', async () => {
    const { publisher, manager } = await publisherOn();
    const closedError = Object.assign(new Error('Channel closed'), { name: 'IllegalOperationError' });
    manager.channels[0].throwOnNextPublish = closedError;
    expect(await failureOf(publisher.publish(message('m-1')))).toMatchObject({ kind: 'channel-closed', belongsToMessage: false });
    await waitUntil(() => publisher.isReady() && manager.channels.length === 2);
  });
});
