import { Agent, request } from 'node:http';
import { createTestEnv, type TestEnv } from '../test/support/test-env';
import { waitFor } from '../test/support/wait-for';
import { startBenchApp, type BenchContext } from './support/bench-app';
import { defaultSettings } from './support/broker';
import { INGEST_BODY } from './support/http-load';
import type { BenchSection } from './support/report';
import { formatMs, formatNumber, percentile, sleep } from './support/stats';

/** Fixed rate, well below what one producer and one consumer sustain, so latency is not queueing. */
const RATE_PER_SECOND = 200;
const WARMUP_SECONDS = 2;
const MEASURED_SECONDS = 10;
/** Lone messages: one at a time, this far apart, so no commit has company (IDEMPOTENCY_COMMIT_FLUSH_MS). */
const LONE_MESSAGES = 100;
const LONE_GAP_MS = 25;
const LONE_FLUSH_MS = [0, 5];

interface Sent {
  sentAt: number;
  answeredAt: number;
  status: number;
  id?: string;
}

/** One POST /messages on a keep-alive agent; never rejects (status 0 on a failure). */
function post(agent: Agent, url: URL): Promise<Sent> {
  const sentAt = Date.now();
  return new Promise<Sent>((resolve) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let id: string | undefined;
        try {
          id = (JSON.parse(text) as { id?: string }).id;
        } catch {
          id = undefined;
        }
        resolve({ sentAt, answeredAt: Date.now(), status: res.statusCode ?? 0, id });
      });
    });
    req.on('error', () => resolve({ sentAt, answeredAt: Date.now(), status: 0 }));
    req.end(INGEST_BODY);
  });
}

/** Sends at a fixed rate for `seconds` (open loop: a slow answer does not delay the next request). */
async function sendAtRate(agent: Agent, url: URL, seconds: number): Promise<Sent[]> {
  const total = RATE_PER_SECOND * seconds;
  const started = Date.now();
  const pending: Promise<Sent>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE_PER_SECOND;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    pending.push(post(agent, url));
  }
  return Promise.all(pending);
}

/** Milliseconds from each sent message to its processed entry (the stream id is Redis' clock in ms). */
async function latencies(redis: TestEnv['redis'], stream: string, sent: Sent[]): Promise<number[]> {
  const processedAt = new Map<string, number>();
  for (const [entryId, fields] of await redis.xrange(stream, '-', '+')) {
    const idIndex = fields.indexOf('id');
    if (idIndex >= 0) processedAt.set(fields[idIndex + 1], Number(entryId.split('-')[0]));
  }
  return sent.map((s) => (s.id === undefined ? Number.NaN : (processedAt.get(s.id) ?? Number.NaN) - s.sentAt)).filter(Number.isFinite);
}

/**
 * A lone message's end-to-end latency with the consumer's commit flush timer at `flushMs`: what a
 * batch's wait for company costs when none comes.
 */
async function loneMessages(context: BenchContext, env: TestEnv, stream: string, producerUrl: URL, flushMs: number): Promise<number[]> {
  const consumer = await startBenchApp(context, 'consumer', env, `e2e-lone-${flushMs}`, { IDEMPOTENCY_COMMIT_FLUSH_MS: String(flushMs) });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const sent: Sent[] = [];
    for (let i = 0; i < LONE_MESSAGES; i++) {
      sent.push(await post(agent, producerUrl));
      await sleep(LONE_GAP_MS);
    }
    const accepted = sent.filter((s) => s.status === 202 && s.id !== undefined);
    await waitFor(async () => (await latencies(env.redis, stream, accepted)).length === accepted.length, {
      timeoutMs: 30_000,
      intervalMs: 100,
      description: `${accepted.length} lone messages processed`,
    });
    return latencies(env.redis, stream, accepted);
  } finally {
    agent.destroy();
    await consumer.app.stop();
  }
}

/**
 * End-to-end latency: POST /messages at a fixed rate through the producer, the broker and the
 * consumer, until the message's entry is in `messaging:processed`. Both timestamps come from this
 * host's clock (the stream entry id is Redis' time in ms), so the latency has ms resolution.
 */
export async function e2eLatency(context: BenchContext): Promise<BenchSection> {
  const env = await createTestEnv('bench-e2e');
  const stream = defaultSettings().names.processedStream;
  try {
    const consumer = await startBenchApp(context, 'consumer', env, 'e2e');
    const producer = await startBenchApp(context, 'producer', env, 'e2e');
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const url = new URL(producer.app.url('/messages'));

    context.log(`e2e: warm-up ${WARMUP_SECONDS} s, then ${MEASURED_SECONDS} s at ${RATE_PER_SECOND}/s`);
    const warmup = await sendAtRate(agent, url, WARMUP_SECONDS);
    await producer.beginProfile();
    await consumer.beginProfile();
    const sent = await sendAtRate(agent, url, MEASURED_SECONDS);
    agent.destroy();

    const accepted = sent.filter((s): s is Sent & { id: string } => s.status === 202 && s.id !== undefined);
    const expected = [...warmup, ...sent].filter((s) => s.status === 202).length;
    await waitFor(async () => (await env.redis.xlen(stream)) >= expected, {
      timeoutMs: 60_000,
      intervalMs: 100,
      description: `${expected} processed entries`,
    });
    await producer.endProfile();
    await consumer.endProfile();

    const endToEnd = await latencies(env.redis, stream, accepted);
    const answered = accepted.map((s) => s.answeredAt - s.sentAt);
    const notAccepted = sent.length - accepted.length;
    const memory = [
      { process: 'producer', when: 'end-to-end latency', ...producer.memory() },
      { process: 'consumer', when: 'end-to-end latency', ...consumer.memory() },
    ];
    await consumer.app.stop();
    const lone: [number, number[]][] = [];
    for (const flushMs of LONE_FLUSH_MS) {
      lone.push([flushMs, await loneMessages(context, env, stream, url, flushMs)]);
      context.log(`e2e: lone messages, commit flush ${flushMs} ms: p50 ${formatMs(percentile(lone[lone.length - 1][1], 50))}`);
    }
    await producer.app.stop();

    return {
      title: 'End-to-end latency: POST to processed entry',
      method:
        `POST /messages at a fixed ${RATE_PER_SECOND}/s (open loop, keep-alive connections) for ${MEASURED_SECONDS} s after a ` +
        `${WARMUP_SECONDS} s warm-up, one producer and one consumer (defaults, \`LOG_LEVEL=warn\`). End-to-end: from sending ` +
        'the request to the entry in `messaging:processed` (its stream id is the Redis clock in ms; same host, same clock). ' +
        'No baseline: this is the latency a client sees through the whole guarantee (confirm, consume, guard, effect, ack). ' +
        `Lone messages: ${LONE_MESSAGES} POSTs one at a time, ${LONE_GAP_MS} ms apart, against a fresh consumer with ` +
        `\`IDEMPOTENCY_COMMIT_FLUSH_MS\` at ${LONE_FLUSH_MS.join(' and ')} ms: what a commit's wait for company costs when none comes.`,
      table: {
        header: ['', 'p50', 'p90', 'p99', 'max', 'messages'],
        rows: [
          [
            'POST → processed entry',
            formatMs(percentile(endToEnd, 50)),
            formatMs(percentile(endToEnd, 90)),
            formatMs(percentile(endToEnd, 99)),
            formatMs(percentile(endToEnd, 100)),
            formatNumber(endToEnd.length, 0),
          ],
          [
            'POST → 202 (confirmed)',
            formatMs(percentile(answered, 50)),
            formatMs(percentile(answered, 90)),
            formatMs(percentile(answered, 99)),
            formatMs(percentile(answered, 100)),
            formatNumber(answered.length, 0),
          ],
          ...lone.map(([flushMs, values]) => [
            `lone message → processed entry, commit flush ${flushMs} ms`,
            formatMs(percentile(values, 50)),
            formatMs(percentile(values, 90)),
            formatMs(percentile(values, 99)),
            formatMs(percentile(values, 100)),
            formatNumber(values.length, 0),
          ]),
        ],
      },
      notes: [`Answers other than 202: ${notAccepted}. Accepted messages without a processed entry: ${accepted.length - endToEnd.length}.`],
      memory,
    };
  } finally {
    await env.cleanup();
  }
}
