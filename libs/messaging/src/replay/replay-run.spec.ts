import type { OutboxEntry, OutboxFailure, OutboxStore } from '../outbox';
import { PublishFailedError } from '../publishing/publish-errors';
import { ReplayRun, type ReplayRunSettings } from './replay-run';

/** The run's order of events only: an in-memory outbox and a publisher the test answers by hand. */
class FakeOutbox {
  due: string[] = [];
  readonly log: string[] = [];
  readonly removed: string[] = [];
  readonly released: string[] = [];
  failRemove = false;

  claimDue(limit: number): Promise<OutboxEntry[]> {
    const ids = this.due.splice(0, limit);
    this.log.push(`claim ${limit}`);
    return Promise.resolve(ids.map((id) => ({ id, type: 't', body: Buffer.from('{}'), storedAt: 0, attempts: 0, deferrals: 0 })));
  }
  remove(ids: string[]): Promise<void> {
    if (ids.length > 0) this.log.push(`remove ${ids.length}`);
    if (this.failRemove) return Promise.reject(new Error('READONLY'));
    this.removed.push(...ids);
    return Promise.resolve();
  }
  recordFailures(failures: OutboxFailure[]): Promise<number> {
    if (failures.length > 0) this.log.push(`fail ${failures.length}`);
    return Promise.resolve(0);
  }
  release(ids: string[]): Promise<void> {
    this.released.push(...ids);
    return Promise.resolve();
  }
}

class HandAnsweredBroker {
  ready = true;
  readonly pending = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  maxInFlight = 0;

  constructor(private readonly log: string[]) {}

  isReady(): boolean {
    return this.ready;
  }
  publish(entry: OutboxEntry): Promise<void> {
    this.log.push(`publish ${entry.id}`);
    return new Promise<void>((resolve, reject) => {
      this.pending.set(entry.id, { resolve, reject });
      this.maxInFlight = Math.max(this.maxInFlight, this.pending.size);
    });
  }
  send(entry: OutboxEntry, _occurredAtMs: number | undefined, answer: (error?: PublishFailedError) => void): void {
    this.publish(entry).then(() => answer(), answer);
  }
  /** Answers every publish in flight (confirmed, or the kind given for some ids), then lets the run go on. */
  async answerAll(failures: Record<string, PublishFailedError['kind']> = {}): Promise<void> {
    for (const [id, { resolve, reject }] of [...this.pending]) {
      this.pending.delete(id);
      if (failures[id]) reject(new PublishFailedError(failures[id], id));
      else resolve();
    }
    await settle();
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
const ids = (n: number) => Array.from({ length: n }, (_, i) => `m-${i}`);
const SETTINGS: ReplayRunSettings = {
  window: 4,
  leaseMs: 30_000,
  backoffBaseMs: 10,
  backoffMaxMs: 100,
  maxAttempts: 5,
  maxAgeMs: 60_000,
  exchange: 'messaging.events',
};

function runWith(due: number) {
  const outbox = new FakeOutbox();
  outbox.due = ids(due);
  const broker = new HandAnsweredBroker(outbox.log);
  const recorded: number[] = [];
  const run = new ReplayRun(
    outbox as unknown as OutboxStore,
    broker,
    SETTINGS,
    { recorded: (r) => recorded.push(r.published) },
    () => false,
  );
  return { outbox, broker, run, done: run.run(), recorded };
}

/** Answers whatever is in flight until the run ends. */
async function answerUntilDone(broker: HandAnsweredBroker, done: Promise<unknown>): Promise<void> {
  let finished = false;
  void done.finally(() => (finished = true));
  while (!finished) await broker.answerAll();
}

describe('ReplayRun', () => {
  it('sends one message first and opens the window only after its confirm', async () => {
    const { broker, outbox, done } = runWith(10);
    await settle();
    expect([...broker.pending.keys()]).toEqual(['m-0']);
    await broker.answerAll();
    expect([...broker.pending.keys()]).toEqual(['m-1', 'm-2', 'm-3', 'm-4']);
    await answerUntilDone(broker, done);
    expect(await done).toEqual({ published: 10, failed: 0, deferred: 0, parked: 0 });
    expect(outbox.removed.sort()).toEqual(ids(10).sort());
  });

  it('never has more than the window in flight, and claims the next messages while confirms are in flight', async () => {
    const { broker, outbox, done } = runWith(30);
    await settle();
    await broker.answerAll();
    // The window is full and the next two windows are already claimed: the broker never waits for Redis.
    expect(broker.pending.size).toBe(4);
    expect(outbox.log.filter((line) => line.startsWith('claim'))).toEqual(['claim 1', 'claim 4', 'claim 4', 'claim 4']);
    await answerUntilDone(broker, done);
    expect(broker.maxInFlight).toBe(SETTINGS.window);
    expect((await done).published).toBe(30);
  });

  it('removes confirmed messages in batches while later publishes are in flight', async () => {
    const { broker, outbox, done, recorded } = runWith(12);
    await settle();
    await broker.answerAll();
    await broker.answerAll();
    // The second window's confirms were removed; the third window is already out.
    expect(outbox.removed).toHaveLength(5);
    expect(broker.pending.size).toBe(4);
    await answerUntilDone(broker, done);
    expect(recorded.reduce((a, b) => a + b, 0)).toBe(12);
  });

  it('stops sending at the first deferral, answers what is in flight, and releases what it claimed and did not send', async () => {
    const { broker, outbox, done } = runWith(20);
    await settle();
    await broker.answerAll();
    await broker.answerAll({ 'm-2': 'timeout' });
    await answerUntilDone(broker, done);
    expect(await done).toEqual({ published: 4, failed: 0, deferred: 1, parked: 0 });
    const sent = outbox.log.filter((line) => line.startsWith('publish')).length;
    expect(sent).toBe(5);
    // Claimed: 1 + 4 + 4 (+ 4 while the window was answered); everything not sent is given back.
    expect(outbox.released.length + sent + outbox.due.length).toBe(20);
    expect(outbox.released).not.toContain('m-2');
  });

  it('goes on past failures that belong to the message', async () => {
    const { broker, done } = runWith(9);
    await settle();
    await broker.answerAll();
    await broker.answerAll({ 'm-1': 'nacked', 'm-3': 'returned' });
    await answerUntilDone(broker, done);
    expect(await done).toEqual({ published: 7, failed: 2, deferred: 0, parked: 0 });
  });

  it('halts when the publisher stops being ready, and releases the unsent claims', async () => {
    const { broker, outbox, done } = runWith(20);
    await settle();
    broker.ready = false;
    await answerUntilDone(broker, done);
    expect(await done).toEqual({ published: 1, failed: 0, deferred: 0, parked: 0 });
    expect(outbox.log.filter((line) => line.startsWith('publish'))).toEqual(['publish m-0']);
  });

  it('halts and rethrows when a removal fails: nothing more is sent, the unremoved messages come back with their lease', async () => {
    const { broker, outbox, done } = runWith(20);
    outbox.failRemove = true;
    await settle();
    const failure = expect(done).rejects.toThrow('READONLY');
    await answerUntilDone(
      broker,
      done.catch(() => undefined),
    );
    await failure;
    expect(outbox.log.filter((line) => line.startsWith('publish')).length).toBeLessThanOrEqual(1 + SETTINGS.window);
  });
});
