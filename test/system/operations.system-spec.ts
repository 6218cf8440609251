import { waitFor } from '../support/wait-for';
import { ProcessedStream } from './support/processed-stream';
import { waitForProcessed } from './support/settle';
import { call, metricValue, sendAccepted } from './support/system-http';
import { RunTypes, systemTarget } from './support/system-target';

/**
 * What an operator and a deployment rely on: health on both apps (what the compose healthchecks and a
 * load balancer ask), Prometheus metrics that move with traffic, and the admin routes' counts, behind
 * the API key when the system has one.
 */
const target = systemTarget();
const types = new RunTypes();
const ACCEPTED = ['published', 'pending'].map((status) => `messaging_messages_accepted_total{status="${status}"}`);
const PROCESSED = 'messaging_consumed_total{result="processed"}';
let stream: ProcessedStream;

beforeAll(async () => {
  stream = await ProcessedStream.open(target, types);
});

afterAll(async () => {
  await stream?.close();
});

const apps = () => [
  { app: 'producer', url: target.producerUrl },
  { app: 'consumer', url: target.consumerUrl },
];

async function metrics(url: string): Promise<string> {
  const answer = await call(target, 'GET', `${url}/metrics`);
  if (answer.status !== 200) throw new Error(`GET ${url}/metrics answered ${answer.status}`);
  return answer.text;
}

describe('health', () => {
  it.each(apps())('the $app answers GET /health 200 with status ok, and /health/live 200', async ({ url }) => {
    const health = await call(target, 'GET', `${url}/health`, { withKey: false });
    expect({ status: health.status, healthStatus: health.body?.status }).toEqual({ status: 200, healthStatus: 'ok' });
    expect((await call(target, 'GET', `${url}/health/live`, { withKey: false })).status).toBe(200);
  });
});

describe('metrics', () => {
  it.each(apps())('the $app serves Prometheus text at GET /metrics', async ({ url }) => {
    const answer = await call(target, 'GET', `${url}/metrics`, { withKey: false });
    expect(answer.status).toBe(200);
    expect(answer.contentType).toMatch(/^text\/plain/);
    expect(answer.text).toMatch(/^# HELP messaging_/m);
  });

  it('count the messages the system accepted and processed', async () => {
    const producerBefore = await metrics(target.producerUrl);
    const consumerBefore = await metrics(target.consumerUrl);
    const accepted = (text: string) => ACCEPTED.reduce((sum, sample) => sum + metricValue(text, sample), 0);

    const ids: string[] = [];
    for (let n = 0; n < 5; n++) ids.push(await sendAccepted(target, types.type('counted'), { n }));
    await waitForProcessed(target, stream, ids);

    // Counters only grow; other clients of a shared system may add to them too, hence "at least".
    expect(accepted(await metrics(target.producerUrl)) - accepted(producerBefore)).toBeGreaterThanOrEqual(ids.length);
    await waitFor(
      async () => metricValue(await metrics(target.consumerUrl), PROCESSED) - metricValue(consumerBefore, PROCESSED) >= ids.length,
      { timeoutMs: 5000, description: `${PROCESSED} to grow by ${ids.length}` },
    );
  });
});

describe('admin routes', () => {
  it('count the outbox on the producer and the DLQ on the consumer', async () => {
    const outbox = await call(target, 'GET', `${target.producerUrl}/admin/outbox`);
    expect(outbox.status).toBe(200);
    expect(outbox.body).toEqual(expect.objectContaining({ pending: expect.any(Number), parked: expect.any(Number) }));
    const dlq = await call(target, 'GET', `${target.consumerUrl}/admin/dlq`);
    expect({ status: dlq.status, body: dlq.body }).toEqual({ status: 200, body: { count: expect.any(Number) } });
  });

  it('refuse a request without the API key with a JSON 401 when the system requires keys', async () => {
    const routes = [`${target.producerUrl}/admin/outbox`, `${target.consumerUrl}/admin/dlq`];
    const answers = await Promise.all(routes.map((url) => call(target, 'GET', url, { withKey: false })));
    const expected = target.apiKey === undefined ? 200 : 401;
    expect(answers.map((answer) => answer.status)).toEqual([expected, expected]);
    if (target.apiKey !== undefined) expect(answers.every((answer) => /^application\/json\b/.test(answer.contentType))).toBe(true);
  });
});
