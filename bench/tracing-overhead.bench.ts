import { context, propagation, trace } from '@opentelemetry/api';
import { BatchSpanProcessor, NodeTracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-node';
import type { ConsumeMessage } from 'amqplib';
import type { WireMessage } from '../libs/messaging/src/envelope';
import { noteDeliveryResult, traceDelivery, tracePublish, traceReplay } from '../libs/messaging/src/spans';
import type { BenchContext } from './support/bench-app';
import type { BenchSection } from './support/report';
import { formatNumber, median } from './support/stats';

/**
 * What the library's spans cost per message, in this process: each instrumented step (the publish
 * span around a send, the replay span around an outbox replay, the process span around a delivery's
 * handling) against the same step called directly, with tracing off (no SDK: what every deployment
 * without OTEL_EXPORTER_OTLP_ENDPOINT runs), then with the SDK on (sampling everything, a batch span
 * processor, an exporter that drops the spans) for scale.
 */
const CALLS = 200_000;
const ROUNDS = 5;
const EXCHANGE = 'messaging.events';

const message: WireMessage = { id: 'bench-1', type: 'bench.event', body: Buffer.from('{"id":"bench-1"}'), correlationId: 'bench' };
const delivery = {
  content: message.body,
  fields: { exchange: EXCHANGE, routingKey: message.type, deliveryTag: 1, redelivered: false },
  properties: { headers: { 'x-correlation-id': 'bench' } },
} as unknown as ConsumeMessage;

const send = () => Promise.resolve('published' as const);
const handle = () => {
  noteDeliveryResult('processed');
  return Promise.resolve();
};

interface Step {
  name: string;
  direct: () => Promise<unknown>;
  traced: () => Promise<unknown>;
}
const STEPS: Step[] = [
  { name: 'publish span around a send (producer, per POST)', direct: send, traced: () => tracePublish(message, EXCHANGE, send) },
  { name: 'replay span around an outbox replay (producer)', direct: send, traced: () => traceReplay(message, EXCHANGE, send) },
  {
    name: 'process span around a handling (consumer, per delivery)',
    direct: handle,
    traced: () => traceDelivery(message.id, delivery, handle),
  },
];

/** CPU time (user + system) per call, in nanoseconds, over CALLS awaited calls. */
async function cpuPerCall(call: () => Promise<unknown>): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) await call();
  const used = process.cpuUsage(started);
  return ((used.user + used.system) * 1000) / CALLS;
}

/** Median over ROUNDS of each variant, the variants alternating within each round. */
async function measure(variants: (() => Promise<unknown>)[]): Promise<number[]> {
  const samples = variants.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? variants.map((_, i) => i) : variants.map((_, i) => variants.length - 1 - i);
    for (const i of order) samples[i].push(await cpuPerCall(variants[i]));
  }
  return samples.map(median);
}

class DroppingExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: { code: number }) => void): void {
    done({ code: 0 });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export async function tracingOverhead(bench: BenchContext): Promise<BenchSection> {
  bench.log(`tracing: ${STEPS.length} steps, ${ROUNDS} rounds of ${CALLS.toLocaleString('en-US')} calls, tracing off`);
  for (const step of STEPS) await cpuPerCall(step.traced); // warm-up (JIT)
  const off: number[][] = [];
  for (const step of STEPS) off.push(await measure([step.direct, step.traced]));

  bench.log('tracing: the same with the SDK on');
  const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(new DroppingExporter())] });
  provider.register();
  const on: number[] = [];
  try {
    for (const step of STEPS) await cpuPerCall(step.traced);
    for (const step of STEPS) on.push((await measure([step.traced]))[0]);
  } finally {
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  }

  const ns = (value: number) => `${formatNumber(value, value < 100 ? 1 : 0)} ns`;
  return {
    title: 'Tracing: what the spans cost per message',
    method:
      `In the bench process, without broker or Redis: each step the library instruments, called ${CALLS.toLocaleString('en-US')} times` +
      ` (awaited one by one) directly and through its span helper (\`libs/messaging/src/spans\`), alternating, ${ROUNDS} rounds,` +
      ' median CPU time (user + system) per call. Tracing off is the default (no `OTEL_EXPORTER_OTLP_ENDPOINT`): no SDK is' +
      ' loaded and `@opentelemetry/api` answers with no-op spans. Tracing on: the SDK registered, every span sampled, a' +
      ' batch span processor, an exporter that drops the spans (the export itself is not counted).',
    table: {
      header: ['step', 'direct', 'tracing off', 'added by tracing off', 'tracing on'],
      rows: STEPS.map((step, i) => [step.name, ns(off[i][0]), ns(off[i][1]), ns(off[i][1] - off[i][0]), ns(on[i])]),
    },
    notes: [
      'Compare "added by tracing off" with the server CPU per request of the producer and the consumer CPU per message above (hundreds and tens of µs): well under 1 %, within the spread of those measurements.',
      'A POST runs one publish span (two with an outbox replay); a delivery one process span. The HTTP request span (tracing on only) is not in this table.',
    ],
    memory: [],
  };
}
