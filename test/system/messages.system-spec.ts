import { randomUUID } from 'node:crypto';
import { ProcessedStream } from './support/processed-stream';
import { settle, waitForProcessed } from './support/settle';
import { postMessage, type Answer } from './support/system-http';
import { RunTypes, systemTarget } from './support/system-target';

/**
 * What a client of the deployed system relies on: every 202 has exactly one processed entry, a retry
 * with the same Idempotency-Key is the same message, and a bad request is refused with a JSON 4xx and
 * has no effect. Only messages of this run's own types are sent and looked at.
 */
const target = systemTarget();
const types = new RunTypes();
let stream: ProcessedStream;

beforeAll(async () => {
  stream = await ProcessedStream.open(target, types);
});

afterAll(async () => {
  await stream?.close();
});

function expectAccepted(answer: Answer): string {
  expect({ status: answer.status, body: answer.body }).toEqual({
    status: 202,
    body: { id: expect.any(String), status: expect.stringMatching(/^(published|pending)$/) },
  });
  return answer.body.id as string;
}

function expectJsonRefusal(answer: Answer, status: number): void {
  expect({ status: answer.status, json: /^application\/json\b/.test(answer.contentType), isObject: typeof answer.body }).toEqual({
    status,
    json: true,
    isObject: 'object',
  });
}

describe('POST /messages', () => {
  it('answers 202 for each message, and each leaves exactly one processed entry with its id and type', async () => {
    const type = types.type('order-created');
    const answers = await Promise.all(Array.from({ length: 20 }, (_, n) => postMessage(target, { type, payload: { n } })));
    const ids = answers.map(expectAccepted);
    expect(new Set(ids).size).toBe(ids.length);

    await waitForProcessed(target, stream, ids);
    const counts = await settle(target, stream, types);
    expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
    const entries = (await stream.entries()).filter((entry) => ids.includes(entry.id));
    expect(entries.every((entry) => entry.type === type)).toBe(true);
  });

  it('gives a retried Idempotency-Key the same id, and the message is processed once', async () => {
    const type = types.type('retried');
    const key = `system-test-${randomUUID()}`;
    const send = () => postMessage(target, { type, payload: { attempt: 'any' } }, { headers: { 'idempotency-key': key } });
    const first = expectAccepted(await send());
    // A client that timed out retries, possibly while its first request is still in flight.
    const retries = await Promise.all([send(), send(), send()]);
    expect(retries.map(expectAccepted)).toEqual([first, first, first]);

    const other = expectAccepted(await postMessage(target, { type, payload: {} }, { headers: { 'idempotency-key': `${key}-other` } }));
    expect(other).not.toBe(first);

    await waitForProcessed(target, stream, [first, other]);
    const counts = await settle(target, stream, types);
    expect([counts.get(first), counts.get(other)]).toEqual([1, 1]);
  });
});

describe('bad requests', () => {
  it('are refused with a JSON 400, 413 or 415, and nothing of them is published', async () => {
    const refused = (name: string) => types.type(`refused-${name}`);
    expectJsonRefusal(await postMessage(target, { type: refused('array-payload'), payload: [1, 2] }), 400);
    expectJsonRefusal(await postMessage(target, { payload: {} }), 400);
    expectJsonRefusal(await postMessage(target, { type: `${types.prefix}.refused.*`, payload: {} }), 400);
    expectJsonRefusal(await postMessage(target, { type: `${types.prefix}.refused-#`, payload: {} }), 400);
    expectJsonRefusal(await postMessage(target, { type: `${types.prefix}.refused-${'x'.repeat(128)}`, payload: {} }), 400);
    expectJsonRefusal(await postMessage(target, undefined, { raw: `{"type": "${refused('broken-json')}", "payload": {` }), 400);
    expectJsonRefusal(
      await postMessage(target, { type: refused('long-key'), payload: {} }, { headers: { 'idempotency-key': 'k'.repeat(201) } }),
      400,
    );
    expectJsonRefusal(
      await postMessage(target, undefined, {
        raw: JSON.stringify({ type: refused('text-plain'), payload: {} }),
        headers: { 'content-type': 'text/plain' },
      }),
      415,
    );
    const oversized = JSON.stringify({ type: refused('too-large'), payload: { fill: 'x'.repeat(target.maxBodyBytes) } });
    expectJsonRefusal(await postMessage(target, undefined, { raw: oversized }), 413);

    await settle(target, stream, types);
    expect((await stream.entries()).filter((entry) => entry.type.includes('.refused'))).toEqual([]);
  });

  it('without the API key are refused with a JSON 401 when the system requires keys', async () => {
    const unkeyed = types.type('without-key');
    const answer = await postMessage(target, { type: unkeyed, payload: {} }, { withKey: false });
    if (target.apiKey === undefined) {
      // No key given to the suite: the system must be one without API_KEYS, and accepts the message.
      await waitForProcessed(target, stream, [expectAccepted(answer)]);
      return;
    }
    expectJsonRefusal(answer, 401);
    const wrongKey = types.type('wrong-key');
    const headers = { 'x-api-key': 'not-a-key-of-this-system' };
    expectJsonRefusal(await postMessage(target, { type: wrongKey, payload: {} }, { headers, withKey: false }), 401);
    await settle(target, stream, types);
    expect((await stream.entries()).filter((entry) => entry.type === unkeyed || entry.type === wrongKey)).toEqual([]);
  });
});
