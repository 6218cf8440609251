import { Logger } from '@nestjs/common';
import type { SchedulerRegistry } from '@nestjs/schedule';
import { loadMessagingSettings } from '../config';
import { MessagingMetrics } from '../metrics';
import type { OutboxEntry, OutboxFailure, OutboxStore } from '../outbox';
import type { ConfirmedPublisher } from '../publishing/confirmed-publisher';
import { PublishFailedError, type PublishFailureKind } from '../publishing/publish-errors';
import { ReplayJob } from './replay.job';

// @nestjs/schedule ships as ES modules, which this Jest setup does not load; the job only needs its type here.
jest.mock('@nestjs/schedule', () => ({ SchedulerRegistry: class {} }));

/** The job's decisions only: an in-memory outbox and a publisher whose answer per message the test sets. */
class FakeOutbox {
  due: string[] = [];
  readonly claims: number[] = [];
  readonly removed: string[] = [];
  readonly released: string[] = [];
  readonly failures: OutboxFailure[] = [];

  claimDue(limit: number): Promise<OutboxEntry[]> {
    this.claims.push(limit);
    const ids = this.due.splice(0, limit);
    return Promise.resolve(ids.map((id) => ({ id, type: 't', body: Buffer.from('{}'), storedAt: 0, attempts: 0, deferrals: 0 })));
  }
  release(ids: string[]): Promise<void> {
    this.released.push(...ids);
    this.due.unshift(...ids);
    return Promise.resolve();
  }
  remove(ids: string[]): Promise<void> {
    this.removed.push(...ids);
    return Promise.resolve();
  }
  recordFailures(failures: OutboxFailure[]): Promise<number> {
    this.failures.push(...failures);
    return Promise.resolve(0);
  }
  counts() {
    return Promise.resolve({ pending: this.due.length, parked: 0 });
  }
}

function jobWith(answer: (id: string) => PublishFailureKind | 'confirmed', ready = () => true) {
  const outbox = new FakeOutbox();
  const published: string[] = [];
  const broker = {
    isReady: ready,
    publish: (entry: OutboxEntry) => {
      published.push(entry.id);
      const outcome = answer(entry.id);
      return outcome === 'confirmed' ? Promise.resolve() : Promise.reject(new PublishFailedError(outcome, entry.id));
    },
    send(entry: OutboxEntry, _occurredAtMs: number | undefined, answer: (error?: PublishFailedError) => void) {
      this.publish(entry).then(() => answer(), answer);
    },
  };
  const settings = loadMessagingSettings({ OUTBOX_REPLAY_BATCH_SIZE: '10' });
  const job = new ReplayJob(
    {} as SchedulerRegistry,
    outbox as unknown as OutboxStore,
    broker as unknown as ConfirmedPublisher,
    new MessagingMetrics(),
    settings,
  );
  return { job, outbox, published };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `m-${i}`);

beforeAll(() => Logger.overrideLogger(false));

describe('ReplayJob', () => {
  it('starts each run with one message, then drains in full batches', async () => {
    const { job, outbox } = jobWith(() => 'confirmed');
    outbox.due = ids(25);
    expect(await job.runOnce()).toEqual({ published: 25, failed: 0, deferred: 0, parked: 0 });
    expect(outbox.claims).toEqual([1, 10, 10, 10]);
    expect(outbox.removed).toHaveLength(25);
  });

  it('stops the run at its first timeout: a broker that cannot confirm gets one message, which is not counted', async () => {
    const { job, outbox, published } = jobWith(() => 'timeout');
    outbox.due = ids(25);
    expect(await job.runOnce()).toEqual({ published: 0, failed: 0, deferred: 1, parked: 0 });
    expect(published).toEqual(['m-0']);
    expect(outbox.failures).toEqual([{ id: 'm-0', delayMs: expect.any(Number), counts: false, error: expect.stringContaining('timeout') }]);
  });

  it('stops sending at a failure of the broker state, counting only nacks and returns, and gives back what it claimed and did not send', async () => {
    const answers: Record<string, PublishFailureKind> = {
      'm-1': 'nacked',
      'm-2': 'returned',
      'm-3': 'channel-closed',
      'm-4': 'backpressure',
    };
    const { job, outbox } = jobWith((id) => answers[id] ?? 'confirmed');
    outbox.due = ids(25);
    expect(await job.runOnce()).toEqual({ published: 7, failed: 2, deferred: 2, parked: 0 });
    // The next claim was made while the first window's confirms were in flight; it was sent nothing.
    expect(outbox.claims).toEqual([1, 10, 10]);
    expect(outbox.released).toEqual(ids(21).slice(11));
    expect(Object.fromEntries(outbox.failures.map((f) => [f.id, f.counts]))).toEqual({
      'm-1': true,
      'm-2': true,
      'm-3': false,
      'm-4': false,
    });
    expect(outbox.due).toHaveLength(14);
  });

  it('goes on past failures that belong to the message', async () => {
    const { job, outbox } = jobWith((id) => (id === 'm-5' ? 'nacked' : 'confirmed'));
    outbox.due = ids(25);
    expect(await job.runOnce()).toEqual({ published: 24, failed: 1, deferred: 0, parked: 0 });
  });

  it('does not claim anything while the publisher is not ready (e.g. the connection is blocked)', async () => {
    const { job, outbox, published } = jobWith(
      () => 'confirmed',
      () => false,
    );
    outbox.due = ids(5);
    expect(await job.runOnce()).toEqual({ published: 0, failed: 0, deferred: 0, parked: 0 });
    expect(outbox.claims).toEqual([]);
    expect(published).toEqual([]);
  });
});
