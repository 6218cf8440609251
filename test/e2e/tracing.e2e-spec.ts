import { randomBytes, randomUUID } from 'node:crypto';
import { startApp, stopAll, waitForReady, type AppProcess } from '../support/app-process';
import { FaultProxy } from '../support/fault-proxy';
import { postMessage } from '../support/http';
import { processedCounts } from '../support/processed';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { OtlpReceiver, type ReceivedSpan } from './tracing-otlp-receiver';

/**
 * Tracing over OTLP/HTTP into a receiver of this suite's own, with real apps (the built dist/), a real
 * broker and Redis: a message that goes through the outbox and one retry leaves one trace holding the
 * producer's HTTP and publish spans and the consumer's process spans, each parented on the one
 * before; the replay span links to the publish span. Duplicates and dead letters show on the process
 * spans; http/protobuf, the resource and the sampler variables work; a malformed variable stops the start.
 */
const EXCHANGE = 'messaging.events';
const KIND = { server: 2, producer: 4, consumer: 5 } as const;
const STATUS_ERROR = 2;
const CONSUMER_SETTINGS = {
  CONSUMER_SIMULATED_FAILURES: 'on',
  CONSUMER_MAX_ATTEMPTS: '2',
  CONSUMER_RETRY_BASE_DELAY_MS: '100',
  CONSUMER_RETRY_MAX_DELAY_MS: '200',
};
const FAST_REPLAY = { OUTBOX_REPLAY_INTERVAL_MS: '200', OUTBOX_BACKOFF_BASE_MS: '100', OUTBOX_BACKOFF_MAX_MS: '500' };

let env: TestEnv;
let receiver: OtlpReceiver;
let brokerProxy: FaultProxy;
let producer: AppProcess;
let consumer: AppProcess;

const otlp = (protocol: string, extra: Record<string, string> = {}) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
  OTEL_BSP_SCHEDULE_DELAY: '100',
  OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=e2e,service.namespace=messaging',
  ...extra,
});

/** A W3C traceparent of a sampled caller span, as an upstream service would send it. */
function callerContext(): { traceId: string; spanId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

const spansOf = (messageId: string) => receiver.spans().filter((span) => span.attributes['messaging.message.id'] === messageId);
const processSpans = (messageId: string) =>
  spansOf(messageId)
    .filter((span) => span.kind === KIND.consumer)
    .sort((a, b) => Number(a.attributes['reliable_messaging.attempt']) - Number(b.attributes['reliable_messaging.attempt']));
/** A waitFor probe over what the receiver holds (synchronous; waitFor polls it). */
const spansExported = (check: () => boolean) => () => Promise.resolve(check());
const eventNames = (span: ReceivedSpan | undefined) => (span?.events ?? []).map((event) => event.name);

async function processedOnce(id: string): Promise<void> {
  await waitFor(async () => (await processedCounts(env.redis)).get(id) === 1, {
    timeoutMs: 20_000,
    description: `message ${id} processed`,
  });
}

async function brokerUp(app: AppProcess, up: boolean): Promise<void> {
  await waitFor(
    async () => {
      const body = (await (await fetch(app.url('/health'))).json()) as { details?: { intake?: { broker?: string } } };
      return (body.details?.intake?.broker === 'up') === up;
    },
    { timeoutMs: 20_000, description: `the producer's broker ${up ? 'up' : 'down'}` },
  );
}

beforeAll(async () => {
  env = await createTestEnv('tracing');
  receiver = await OtlpReceiver.start();
  brokerProxy = await FaultProxy.start(env.amqpPort, env.amqpHost);
  [producer, consumer] = await Promise.all([
    startApp('producer', { ...appEnv(env, { amqpPort: brokerProxy.port }), ...FAST_REPLAY, ...otlp('http/json') }),
    startApp('consumer', { ...appEnv(env), ...CONSUMER_SETTINGS, ...otlp('http/json') }),
  ]);
  await Promise.all([waitForReady(producer), waitForReady(consumer), brokerUp(producer, true)]);
}, 60_000);

afterAll(async () => {
  await stopAll();
  await brokerProxy?.stop();
  await receiver?.stop();
  await env?.cleanup();
});

describe('a message through the outbox and one retry', () => {
  it('leaves one trace: HTTP span → publish span → both process spans; the replay span links to the publish span', async () => {
    const caller = callerContext();
    brokerProxy.refuse();
    await brokerUp(producer, false);
    const sent = await postMessage(
      producer.url(''),
      { type: 'trace.outbox', payload: { simulateFailure: { attempts: 1 } } },
      { traceparent: caller.traceparent, 'x-correlation-id': 'trace-e2e-outbox' },
    );
    expect(sent.body).toEqual({ id: expect.any(String), status: 'pending' });
    const id = sent.body.id as string;
    brokerProxy.accept();
    await processedOnce(id);
    await waitFor(
      spansExported(() => processSpans(id).length === 2 && spansOf(id).some((span) => span.attributes['reliable_messaging.outbox.replay'])),
      {
        timeoutMs: 10_000,
        description: 'the replay span and both process spans exported',
      },
    );

    const http = receiver.spans().find((span) => span.traceId === caller.traceId && span.kind === KIND.server);
    expect(http).toEqual(expect.objectContaining({ service: 'producer', name: 'POST /messages', parentSpanId: caller.spanId }));
    expect(http?.attributes).toEqual(expect.objectContaining({ 'http.route': '/messages', 'http.response.status_code': 202 }));

    const producerSpans = spansOf(id).filter((span) => span.kind === KIND.producer);
    const publish = producerSpans.find((span) => !span.attributes['reliable_messaging.outbox.replay']);
    const replay = producerSpans.find((span) => span.attributes['reliable_messaging.outbox.replay']);
    expect(publish).toEqual(
      expect.objectContaining({ service: 'producer', name: `publish ${EXCHANGE}`, traceId: caller.traceId, parentSpanId: http?.spanId }),
    );
    expect(publish?.attributes).toEqual(
      expect.objectContaining({
        'messaging.system': 'rabbitmq',
        'messaging.destination.name': EXCHANGE,
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'publish',
        'messaging.rabbitmq.destination.routing_key': 'trace.outbox',
        'messaging.message.conversation_id': 'trace-e2e-outbox',
        'reliable_messaging.publish.status': 'pending',
      }),
    );
    expect(eventNames(publish)).toContain('stored in the outbox for replay');
    // The replay run is a root of its own, linked to the context stored with the outbox record.
    expect(replay).toEqual(expect.objectContaining({ service: 'producer', name: `publish ${EXCHANGE}`, parentSpanId: '' }));
    expect(replay?.traceId).not.toBe(caller.traceId);
    expect(replay?.links).toEqual([{ traceId: caller.traceId, spanId: publish?.spanId }]);

    const [first, second] = processSpans(id);
    for (const span of [first, second]) {
      expect(span).toEqual(
        expect.objectContaining({
          service: 'consumer',
          name: expect.stringMatching(/^process /),
          traceId: caller.traceId,
          parentSpanId: publish?.spanId,
        }),
      );
      expect(span.attributes).toEqual(
        expect.objectContaining({
          'messaging.system': 'rabbitmq',
          'messaging.operation.type': 'process',
          'messaging.message.conversation_id': 'trace-e2e-outbox',
        }),
      );
    }
    expect(first.attributes['reliable_messaging.attempt']).toBe(1);
    expect(first.status).toBe(STATUS_ERROR);
    expect(eventNames(first)).toEqual(expect.arrayContaining(['exception', 'retry scheduled']));
    expect(second.attributes).toEqual(
      expect.objectContaining({ 'reliable_messaging.attempt': 2, 'reliable_messaging.result': 'processed' }),
    );
    expect(second.status).not.toBe(STATUS_ERROR);

    // One trace holds the producer's and the consumer's spans; the resource is the standard variables'.
    const trace = receiver.spans().filter((span) => span.traceId === caller.traceId);
    expect(trace.map((span) => span.spanId).sort()).toEqual([http, publish, first, second].map((span) => span?.spanId).sort());
    for (const span of [http, publish, first, second])
      expect(span?.resource).toEqual(expect.objectContaining({ 'deployment.environment.name': 'e2e', 'service.namespace': 'messaging' }));
  });
});

describe('the consumer side on the process span', () => {
  it('shows a duplicate the guard absorbed, in the trace of the request that sent it again', async () => {
    const key = `trace-dup-${randomUUID()}`;
    const callers = [callerContext(), callerContext()];
    const ids: string[] = [];
    for (const caller of callers) {
      const sent = await postMessage(
        producer.url(''),
        { type: 'trace.duplicate', payload: {} },
        { traceparent: caller.traceparent, 'idempotency-key': key },
      );
      expect(sent.body.status).toBe('published');
      ids.push(sent.body.id as string);
    }
    expect(ids[1]).toBe(ids[0]);
    await processedOnce(ids[0]);
    await waitFor(
      spansExported(() => processSpans(ids[0]).length === 2),
      { timeoutMs: 10_000, description: 'both process spans exported' },
    );
    const spans = processSpans(ids[0]);
    expect(spans.map((span) => span.attributes['reliable_messaging.result']).sort()).toEqual(['duplicate', 'processed']);
    const duplicate = spans.find((span) => span.attributes['reliable_messaging.result'] === 'duplicate');
    expect(eventNames(duplicate)).toContain('duplicate absorbed by the idempotency guard');
    expect(callers.map((caller) => caller.traceId)).toContain(duplicate?.traceId);
    expect(spans.map((span) => span.traceId).sort()).toEqual(callers.map((caller) => caller.traceId).sort());
  });

  it('shows a retry and then the dead-lettering, both in the message trace', async () => {
    const caller = callerContext();
    const sent = await postMessage(
      producer.url(''),
      { type: 'trace.poison', payload: { simulateFailure: { always: true } } },
      { traceparent: caller.traceparent },
    );
    const id = sent.body.id as string;
    await waitFor(
      spansExported(() => processSpans(id).length === 2 && eventNames(processSpans(id)[1]).includes('dead-lettered')),
      {
        timeoutMs: 20_000,
        description: 'both attempts exported, the last dead-lettered',
      },
    );
    const publish = spansOf(id).find((span) => span.kind === KIND.producer);
    const [first, last] = processSpans(id);
    expect([first, last].map((span) => [span.traceId, span.parentSpanId, span.status])).toEqual([
      [caller.traceId, publish?.spanId, STATUS_ERROR],
      [caller.traceId, publish?.spanId, STATUS_ERROR],
    ]);
    expect(eventNames(first)).toContain('retry scheduled');
    expect(last.events.find((event) => event.name === 'dead-lettered')?.attributes).toEqual(
      expect.objectContaining({ 'reliable_messaging.failure.kind': 'exhausted' }),
    );
  });
});

describe('http/protobuf, OTEL_SERVICE_NAME and the sampler variables', () => {
  it('exports over http/protobuf, named by OTEL_SERVICE_NAME, and samples as OTEL_TRACES_SAMPLER says', async () => {
    await producer.kill();
    // parentbased_always_off: a request with a sampled traceparent is traced, one without is not.
    producer = await startApp('producer', {
      ...appEnv(env),
      ...otlp('http/protobuf', { OTEL_SERVICE_NAME: 'producer-protobuf', OTEL_TRACES_SAMPLER: 'parentbased_always_off' }),
    });
    await brokerUp(producer, true);
    const unsampled = await postMessage(producer.url(''), { type: 'trace.unsampled', payload: {} });
    await processedOnce(unsampled.body.id as string);
    const caller = callerContext();
    const sampled = await postMessage(producer.url(''), { type: 'trace.protobuf', payload: {} }, { traceparent: caller.traceparent });
    const id = sampled.body.id as string;
    await processedOnce(id);

    const carries = (text: string | Buffer) => receiver.protobufRequests().some((request) => request.body.includes(text));
    await waitFor(
      spansExported(() => carries(id) && processSpans(id).length === 1),
      {
        timeoutMs: 10_000,
        description: 'the sampled message spans',
      },
    );
    expect(carries(Buffer.from(caller.traceId, 'hex'))).toBe(true);
    expect(carries('producer-protobuf') && carries(`publish ${EXCHANGE}`) && carries('POST /messages')).toBe(true);
    expect(processSpans(id)[0]).toEqual(expect.objectContaining({ traceId: caller.traceId, service: 'consumer' }));
    // The unsampled message: no producer span, and a not-sampled traceparent that the consumer follows.
    expect(carries(unsampled.body.id as string)).toBe(false);
    expect(processSpans(unsampled.body.id as string)).toEqual([]);
  });
});

describe('a clean stop', () => {
  it('exports the spans still buffered (a batch delay far longer than the test)', async () => {
    await producer.kill();
    producer = await startApp('producer', { ...appEnv(env), ...otlp('http/json', { OTEL_BSP_SCHEDULE_DELAY: '600000' }) });
    await brokerUp(producer, true);
    const caller = callerContext();
    const sent = await postMessage(producer.url(''), { type: 'trace.stop', payload: {} }, { traceparent: caller.traceparent });
    expect(sent.status).toBe(202);
    const exported = () => receiver.spans().filter((span) => span.traceId === caller.traceId && span.service === 'producer');
    expect(exported()).toEqual([]);
    await producer.stop();
    expect(
      exported()
        .map((span) => span.kind)
        .sort(),
    ).toEqual([KIND.server, KIND.producer]);
  });
});

describe('the OTEL_* variables at start', () => {
  it.each([
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'localhost:4318'],
    ['OTEL_TRACES_SAMPLER', 'sometimes'],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5'],
    ['OTEL_RESOURCE_ATTRIBUTES', 'no-equals-sign'],
  ])('stop the start with one line naming %s when it is %p', async (variable, value) => {
    const app = await startApp(
      'consumer',
      { ...appEnv(env), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, [variable]: value },
      { waitForHealth: false },
    );
    expect(await app.exited).toBe(1);
    const lines = app.output().trimEnd().split('\n');
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^Invalid configuration: ${variable} `))]);
  });
});
