/**
 * Bad input against the built apps (real RabbitMQ and Redis, the suite's own vhost and Redis
 * database): every pathological POST /messages body is either refused with a JSON 4xx that says what
 * is wrong, publishing nothing, or accepted and delivered with exactly the JSON value sent (a tap
 * queue bound to the exchange reads what went out; the consumer must process it, not dead-letter it).
 * The admin routes refuse malformed selections and list windows with a 400 and act on nothing; acting
 * on every message takes an explicit {"all": true}.
 */
import { createEnvelope } from '@app/messaging/envelope';
import type { Channel } from 'amqplib';
import { startApp, stopAll, waitForReady, type AppProcess } from '../support/app-process';
import { getUrl, metricValue } from '../support/http';
import { OUTBOX_PARKED } from '../support/outbox-keys';
import { processedCounts } from '../support/processed';
import { queueState } from '../support/queue-state';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { ACCEPTED, REFUSED, withPayload } from './bad-input-cases';

const EXCHANGE = 'messaging.events';
const DLQ = 'messaging.consumer.dlq';
const TAP = 'bad-input.tap';
const ACCEPTED_SAMPLES = ['published', 'pending'].map((status) => `messaging_messages_accepted_total{status="${status}"}`);

interface Answer {
  status: number;
  body: any;
}

/** A POST with a raw body; `contentType` undefined sends no Content-Type (a Uint8Array body gets none from fetch). */
async function post(url: string, body: string | Buffer, contentType?: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...(contentType === undefined ? {} : { 'content-type': contentType }), ...headers },
    body: new Uint8Array(typeof body === 'string' ? Buffer.from(body) : body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // kept as text: the assertions below then fail on it
  }
  return { status: response.status, body: parsed };
}

const postJson = (url: string, json: unknown) => post(url, JSON.stringify(json), 'application/json');

/** A JSON error body: the status, Nest's error name, and a message that says what is wrong. */
function expectJsonError(answer: Answer, status: number, message: string | RegExp): void {
  expect({ status: answer.status, statusCode: answer.body?.statusCode }).toEqual({ status, statusCode: status });
  expect(typeof answer.body.message).toBe('string');
  if (typeof message === 'string') expect(answer.body.message).toBe(message);
  else expect(answer.body.message).toMatch(message);
}

/** The JSON value a body stands for, as the receiver must see it (JSON.parse semantics, BOM ignored). */
const valueOf = (body: string) => JSON.parse(body.replace(/^\ufeff/, '')) as { type: string; payload: unknown };

describe('bad input', () => {
  let env: TestEnv;
  let producer: AppProcess;
  let consumer: AppProcess;
  let tapChannel: Channel;
  /** Everything the producer published, by message id: the raw body. */
  const tapped = new Map<string, Buffer>();

  const accepted = async () => {
    const text = String((await getUrl(producer.url('/metrics'))).body);
    return ACCEPTED_SAMPLES.reduce((sum, sample) => sum + metricValue(text, sample), 0);
  };
  const waitForTapped = (id: string) =>
    waitFor(() => Promise.resolve(tapped.get(id)), { timeoutMs: 10_000, description: `message ${id} to reach the tap queue` });
  const waitForProcessed = (ids: string[]) =>
    waitFor(
      async () => {
        const counts = await processedCounts(env.redis);
        return ids.every((id) => counts.get(id) === 1) ? counts : undefined;
      },
      { timeoutMs: 15_000, description: `${ids.length} message(s) processed once` },
    );

  beforeAll(async () => {
    env = await createTestEnv('bad-input');
    [consumer, producer] = await Promise.all([startApp('consumer', appEnv(env)), startApp('producer', appEnv(env))]);
    await Promise.all([waitForReady(consumer), waitForReady(producer)]);
    tapChannel = await (await env.amqp()).createChannel();
    await tapChannel.assertQueue(TAP, { exclusive: true });
    await tapChannel.bindQueue(TAP, EXCHANGE, '#');
    await tapChannel.consume(
      TAP,
      (message) => {
        if (message) tapped.set(String(message.properties.messageId), message.content);
      },
      { noAck: true },
    );
  });

  afterAll(async () => {
    await stopAll();
    await env?.cleanup();
  });

  describe('POST /messages refuses with a JSON 4xx', () => {
    it.each(REFUSED.map((c) => [c.name, c] as const))('%s', async (_, c) => {
      const answer = await post(producer.url('/messages'), c.body, c.contentType, c.headers);
      expectJsonError(answer, c.status, c.message);
    });

    it('and published nothing of the refused bodies: no delivery, no outbox entry, no acceptance counted', async () => {
      // A valid message sent after them is the first and only one out (a refused one would have been
      // confirmed, and so tapped, before its answer).
      const sentinel = await post(producer.url('/messages'), withPayload('{"sentinel":true}'), 'application/json');
      expect(sentinel.status).toBe(202);
      await waitForTapped(sentinel.body.id);
      expect([...tapped.keys()]).toEqual([sentinel.body.id]);
      expect(await accepted()).toBe(1);
      expect((await getUrl(producer.url('/admin/outbox'))).body).toEqual({ pending: 0, parked: 0 });
      await waitForProcessed([sentinel.body.id]);
      expect((await queueState(env, DLQ))?.ready).toBe(0);
    });
  });

  describe('POST /messages accepts, and delivers the JSON value sent', () => {
    it.each(ACCEPTED.map((c) => [c.name, c] as const))('%s', async (_, c) => {
      const answer = await post(producer.url('/messages'), c.body, c.contentType ?? 'application/json');
      expect(answer).toEqual({ status: 202, body: { id: expect.any(String), status: 'published' } });
      const sent = valueOf(c.body);
      const delivered = JSON.parse((await waitForTapped(answer.body.id)).toString('utf8')) as { type: string; payload: unknown };
      expect(delivered.type).toBe(sent.type);
      // Compared as JSON text, so -0 vs 0 and key order count as JSON counts them, and a lone
      // surrogate must come out as the same escape.
      expect(JSON.stringify(delivered.payload)).toBe(JSON.stringify(sent.payload));
      await waitForProcessed([answer.body.id]);
    });

    it('none of them was dead-lettered', async () => {
      expect((await queueState(env, DLQ))?.ready).toBe(0);
    });
  });

  it('a body within MAX_BODY_BYTES whose envelope is over the broker limit (numbers re-spelt longer): 413, nothing published', async () => {
    const small = await startApp('producer', { ...appEnv(env), MAX_BODY_BYTES: '32768', RABBITMQ_MAX_MESSAGE_BYTES: '65536' });
    try {
      await waitForReady(small);
      const before = tapped.size;
      // "9e20," is 5 bytes of body and 22 of envelope: 6,000 of them are 30 KB sent, 132 KB encoded.
      const body = withPayload(`{"n":[${Array.from({ length: 6000 }, () => '9e20').join(',')}]}`);
      expect(Buffer.byteLength(body)).toBeLessThan(32_768);
      expectJsonError(
        await post(small.url('/messages'), body, 'application/json'),
        413,
        /^message is \d+ bytes encoded, over the limit of 65536 bytes$/,
      );
      const sentinel = await post(small.url('/messages'), withPayload('{"after":"413"}'), 'application/json');
      await waitForTapped(sentinel.body.id);
      expect(tapped.size).toBe(before + 1);
    } finally {
      await small.kill();
    }
  });

  it.each([
    [
      { OUTBOX_LEASE_MS: '2000', PUBLISH_CONFIRM_TIMEOUT_MS: '2000' },
      'OUTBOX_LEASE_MS',
      ['PUBLISH_CONFIRM_TIMEOUT_MS', 'REDIS_COMMAND_TIMEOUT_MS'],
    ],
    [{ MAX_BODY_BYTES: '16777216' }, 'MAX_BODY_BYTES', ['RABBITMQ_MAX_MESSAGE_BYTES']],
  ])(
    'settings that contradict each other (%j): the producer exits with code 1 and one line naming them',
    async (settings, variable, others) => {
      const app = await startApp('producer', { ...appEnv(env), ...settings }, { waitForHealth: false });
      expect(await app.exited).toBe(1);
      const lines = app.output().trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^Invalid configuration: ${variable} \\(`));
      for (const other of others) expect(lines[0]).toContain(other);
    },
  );

  describe('admin routes', () => {
    /** Dead letters put straight into the DLQ: valid envelopes, so the consumer processes what is moved back. */
    async function deadLetters(ids: string[]): Promise<void> {
      const channel = await (await env.amqp()).createConfirmChannel();
      for (const id of ids) {
        channel.sendToQueue(DLQ, Buffer.from(JSON.stringify(createEnvelope('dlq.bad-input', { id }, id))), {
          messageId: id,
          persistent: true,
        });
      }
      await channel.waitForConfirms();
      await channel.close();
    }
    const dlqCount = async () => (await queueState(env, DLQ))!.ready;

    /** Parked outbox records written as the store writes them (valid envelopes, so a retry is published). */
    async function parked(ids: string[]): Promise<void> {
      const now = Date.now();
      for (const id of ids) {
        const body = JSON.stringify(createEnvelope('outbox.bad-input', { id }, id));
        await env.redis.hset(`messaging:{outbox}:record:${id}`, {
          body,
          type: 'outbox.bad-input',
          correlationId: '',
          storedAt: now,
          attempts: 50,
          lastError: 'test',
        });
        await env.redis.zadd(OUTBOX_PARKED, now, id);
      }
    }
    const parkedCount = async () => (await getUrl(producer.url('/admin/outbox'))).body.parked as number;

    const SHAPE = 'the body must be {"ids": ["<message id>", ...]} or {"all": true}';
    const IDS_RULE = /^"ids" must be a list of 1 to 1000 message ids, each a string of 1 to 200 characters$/;
    const MALFORMED: [string, string | Buffer, string | undefined, number, string | RegExp][] = [
      ['{"ids":[1]} (was read as "all")', '{"ids":[1]}', 'application/json', 400, IDS_RULE],
      ['{"ids":["a",2]}', '{"ids":["a",2]}', 'application/json', 400, IDS_RULE],
      ['{"ids":"a"}', '{"ids":"a"}', 'application/json', 400, IDS_RULE],
      ['{"ids":[]}', '{"ids":[]}', 'application/json', 400, '"ids" is empty: name at least one message id, or send {"all": true}'],
      ['{}', '{}', 'application/json', 400, SHAPE],
      ['no body', '', undefined, 400, SHAPE],
      ['{"all":false}', '{"all":false}', 'application/json', 400, /^"all" must be true/],
      ['{"all":"true"}', '{"all":"true"}', 'application/json', 400, /^"all" must be true/],
      ['an unknown field', '{"ids":["a"],"force":true}', 'application/json', 400, `unknown field "force": ${SHAPE}`],
      ['both ids and all', '{"ids":["a"],"all":true}', 'application/json', 400, `give "ids" or "all", not both: ${SHAPE}`],
      ['an array', '["a"]', 'application/json', 400, SHAPE],
      ['invalid JSON', '{"ids":', 'application/json', 400, /^the body is not valid JSON: /],
      ['text/plain', '{"all":true}', 'text/plain', 400, SHAPE],
      ['a form', 'all=true', 'application/x-www-form-urlencoded', 415, 'Content-Type must be application/json'],
    ];

    it.each(MALFORMED)('POST /admin/dlq/move-back with %s: refused, nothing moved', async (_, body, contentType, status, message) => {
      if ((await dlqCount()) === 0) await deadLetters(['dlq-1', 'dlq-2', 'dlq-3']);
      const answer = await post(consumer.url('/admin/dlq/move-back'), body, contentType);
      expect({ status: answer.status, deadLettersLeft: await dlqCount() }).toEqual({ status, deadLettersLeft: 3 });
      expectJsonError(answer, status, message);
    });

    it('POST /admin/dlq/move-back moves the listed ids, then every one only for {"all": true}; each processed once', async () => {
      expectJsonError(
        await post(consumer.url(`/admin/dlq/${'x'.repeat(201)}/move-back`), '', undefined),
        400,
        'the message id must be 1 to 200 characters',
      );
      expect(await postJson(consumer.url('/admin/dlq/move-back'), { ids: ['dlq-2', 'not-there'] })).toEqual({
        status: 200,
        body: { moved: ['dlq-2'] },
      });
      await waitForProcessed(['dlq-2']);
      expect(await dlqCount()).toBe(2);
      const all = await postJson(consumer.url('/admin/dlq/move-back'), { all: true });
      expect({ status: all.status, moved: [...all.body.moved].sort() }).toEqual({ status: 200, moved: ['dlq-1', 'dlq-3'] });
      await waitForProcessed(['dlq-1', 'dlq-2', 'dlq-3']);
      expect(await dlqCount()).toBe(0);
    });

    it.each(MALFORMED)(
      'POST /admin/outbox/parked/retry with %s: refused, nothing retried',
      async (_, body, contentType, status, message) => {
        if ((await parkedCount()) === 0) await parked(['parked-1', 'parked-2', 'parked-3']);
        const answer = await post(producer.url('/admin/outbox/parked/retry'), body, contentType);
        expect({ status: answer.status, parkedLeft: await parkedCount() }).toEqual({ status, parkedLeft: 3 });
        expectJsonError(answer, status, message);
      },
    );

    it('POST /admin/outbox/parked/retry retries the listed ids, then every one only for {"all": true}; each processed once', async () => {
      expect(await postJson(producer.url('/admin/outbox/parked/retry'), { ids: ['parked-2'] })).toEqual({
        status: 200,
        body: { retried: 1 },
      });
      await waitForProcessed(['parked-2']);
      expect(await parkedCount()).toBe(2);
      expect(await postJson(producer.url('/admin/outbox/parked/retry'), { all: true })).toEqual({ status: 200, body: { retried: 2 } });
      await waitForProcessed(['parked-1', 'parked-2', 'parked-3']);
      expect((await getUrl(producer.url('/admin/outbox'))).body).toEqual({ pending: 0, parked: 0 });
    });

    it.each([
      ['/admin/outbox/pending?limit=abc', /^"limit" must be a whole number from 1 to 1000/],
      ['/admin/outbox/pending?limit=-1', /^"limit" must be a whole number from 1 to 1000/],
      ['/admin/outbox/pending?limit=0', /^"limit" must be a whole number from 1 to 1000/],
      ['/admin/outbox/parked?limit=5000', /^"limit" must be a whole number from 1 to 1000/],
      ['/admin/outbox/parked?limit=1&limit=2', /^"limit" must be a whole number/],
      ['/admin/outbox/pending?offset=1e9', /^"offset" must be a whole number from 0 to 1000000000/],
      ['/admin/outbox/pending?offset=-5', /^"offset" must be a whole number from 0 to 1000000000/],
      ['/admin/outbox/parked?offset=99999999999999999999', /^"offset" must be a whole number/],
    ])('GET %s: 400', async (path, message) => {
      const answer = await getUrl(producer.url(path));
      expectJsonError(answer, 400, message);
    });

    it.each([
      ['/admin/dlq/messages?limit=abc', /^"limit" must be a whole number from 1 to 1000/],
      ['/admin/dlq/messages?limit=-1', /^"limit" must be a whole number from 1 to 1000/],
      ['/admin/dlq/messages?limit=1e9', /^"limit" must be a whole number from 1 to 1000/],
      ['/admin/dlq/messages?offset=5', /^"offset" is not supported here/],
    ])('GET %s: 400', async (path, message) => {
      expectJsonError(await getUrl(consumer.url(path)), 400, message);
    });

    it('list windows in bounds answer as before', async () => {
      expect(await getUrl(producer.url('/admin/outbox/pending?limit=1000&offset=1000000000'))).toMatchObject({ status: 200, body: [] });
      expect(await getUrl(consumer.url('/admin/dlq/messages?limit=1'))).toMatchObject({ status: 200, body: [] });
    });
  });
});
