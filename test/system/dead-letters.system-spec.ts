import { randomUUID } from 'node:crypto';
import { waitFor } from '../support/wait-for';
import { ProcessedStream } from './support/processed-stream';
import { settle, waitForProcessed } from './support/settle';
import { SystemBroker } from './support/system-broker';
import { call } from './support/system-http';
import { RunTypes, systemTarget } from './support/system-target';

/**
 * The DLQ as an operator meets it on the deployed system: a message that can never be processed is
 * dead-lettered with the reason in its headers, the admin routes list it and move it back by id, and
 * a dead letter moved back is processed once. The suite sends its own messages only, moves back only
 * its own ids, and at the end removes by id whatever of its own is still in the DLQ.
 */
const target = systemTarget();
const types = new RunTypes();
/** The admin list route's own cap; a DLQ longer than this hides its tail from the listing. */
const LIST_LIMIT = 1000;
const POISON_BODY = 'this is not a message envelope';
let stream: ProcessedStream;
let broker: SystemBroker;
const ownDeadLetters = new Set<string>();

interface ListedDeadLetter {
  messageId?: string;
  type?: string;
  failure: Record<string, unknown>;
  body: string;
}

beforeAll(async () => {
  stream = await ProcessedStream.open(target, types);
  broker = await SystemBroker.connect(target);
});

afterAll(async () => {
  try {
    if (broker !== undefined) await broker.removeDeadLetters(ownDeadLetters);
  } finally {
    await broker?.close();
    await stream?.close();
  }
});

async function listed(id: string): Promise<ListedDeadLetter[]> {
  const answer = await call(target, 'GET', `${target.consumerUrl}/admin/dlq/messages?limit=${LIST_LIMIT}`);
  if (answer.status !== 200 || !Array.isArray(answer.body))
    throw new Error(`GET /admin/dlq/messages answered ${answer.status} ${answer.text}`);
  return (answer.body as ListedDeadLetter[]).filter((letter) => letter.messageId === id);
}

function waitForListed(id: string, accept: (letter: ListedDeadLetter) => boolean = () => true): Promise<ListedDeadLetter> {
  return waitFor(async () => (await listed(id)).find(accept), {
    timeoutMs: target.deliveryTimeoutMs,
    intervalMs: 200,
    description: `dead letter ${id} in GET /admin/dlq/messages`,
  });
}

function moveBack(id: string) {
  return call(target, 'POST', `${target.consumerUrl}/admin/dlq/${encodeURIComponent(id)}/move-back`);
}

describe('a poison message', () => {
  it('lands in the DLQ with the reason in its headers, is moved back by id alone, and is dead-lettered again (never lost, never doubled)', async () => {
    const type = types.type('poison');
    const [id, bystander] = ['poison', 'bystander'].map((name) => `${types.prefix}.${name}-${randomUUID()}`);
    ownDeadLetters.add(id).add(bystander);
    // Not an envelope: what a foreign or broken publisher puts on the exchange.
    for (const messageId of [id, bystander]) {
      await broker.publishToExchange(type, Buffer.from(POISON_BODY), { messageId, type, contentType: 'text/plain' });
    }

    const first = await waitForListed(id);
    expect({ type: first.type, body: first.body, kind: first.failure['x-failure-kind'] }).toEqual({
      type,
      body: POISON_BODY,
      kind: 'poison',
    });
    expect(first.failure['x-failure-reason']).toEqual(expect.stringMatching(/\S/));
    expect(first.failure['x-failed-at']).toEqual(expect.any(String));
    const bystanderBefore = await waitForListed(bystander);

    const answer = await moveBack(id);
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { moved: [id] } });

    // Back on the work queue it is still poison: the consumer dead-letters it once more, with a new time.
    const again = await waitForListed(id, (letter) => letter.failure['x-failed-at'] !== first.failure['x-failed-at']);
    expect(again.failure['x-failure-kind']).toBe('poison');
    await settle(target, stream, types);
    expect(await listed(id)).toHaveLength(1);
    // The other dead letter was not moved: it is there once, as it was.
    expect(await listed(bystander)).toEqual([bystanderBefore]);
    expect((await stream.entries()).filter((entry) => entry.type === type)).toEqual([]);

    expect((await broker.removeDeadLetters([id, bystander])).sort()).toEqual([id, bystander].sort());
    ownDeadLetters.delete(id);
    ownDeadLetters.delete(bystander);
    expect([...(await listed(id)), ...(await listed(bystander))]).toEqual([]);
  });
});

describe('a dead letter moved back', () => {
  it('is processed exactly once and leaves the DLQ', async () => {
    const type = types.type('repaired');
    const id = `${types.prefix}.repaired-${randomUUID()}`;
    ownDeadLetters.add(id);
    const envelope = { id, type, occurredAt: new Date().toISOString(), schemaVersion: 1, payload: { repaired: true } };
    // As the consumer leaves a message whose handler failed every attempt (then, say, the bug was fixed).
    await broker.publishToDeadLetterQueue(Buffer.from(JSON.stringify(envelope)), {
      messageId: id,
      type,
      contentType: 'application/json',
      headers: { 'x-failure-reason': 'system test: handler failed', 'x-failure-kind': 'exhausted', 'x-failed-attempts': 5 },
    });
    await waitForListed(id);

    const answer = await moveBack(id);
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { moved: [id] } });
    await waitForProcessed(target, stream, [id]);
    ownDeadLetters.delete(id);

    const counts = await settle(target, stream, types);
    expect(counts.get(id)).toBe(1);
    expect(await listed(id)).toEqual([]);
  });

  it('by an id the DLQ does not hold moves nothing', async () => {
    const answer = await moveBack(`${types.prefix}.absent-${randomUUID()}`);
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { moved: [] } });
  });
});
