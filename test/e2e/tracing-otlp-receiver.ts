import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OTLP/HTTP trace receiver for the tracing suite: accepts `POST /v1/traces` in either encoding,
 * answers 200, and keeps every request. http/json requests are decoded into spans; http/protobuf
 * requests are kept as bytes (the suite checks what they carry).
 */
export type AttributeValue = string | number | boolean | undefined;

export interface ReceivedSpan {
  service: string;
  resource: Record<string, AttributeValue>;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP's SpanKind: 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, AttributeValue>;
  events: { name: string; attributes: Record<string, AttributeValue> }[];
  links: { traceId: string; spanId: string }[];
  /** OTLP's StatusCode: 0 unset, 1 ok, 2 error. */
  status: number;
}

export interface ReceivedRequest {
  path: string;
  contentType: string;
  body: Buffer;
}

interface OtlpKeyValue {
  key: string;
  value?: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: OtlpKeyValue[];
  events?: { name: string; attributes?: OtlpKeyValue[] }[];
  links?: { traceId: string; spanId: string }[];
  status?: { code?: number };
}
interface OtlpTraces {
  resourceSpans?: { resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

function attributesOf(list: OtlpKeyValue[] = []): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  for (const { key, value } of list) {
    const intValue = value?.intValue;
    attributes[key] =
      value?.stringValue ?? (intValue === undefined ? undefined : Number(intValue)) ?? value?.doubleValue ?? value?.boolValue;
  }
  return attributes;
}

export class OtlpReceiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const contentType = request.headers['content-type'] ?? '';
      this.requests.push({ path: request.url ?? '', contentType, body: Buffer.concat(chunks) });
      const json = contentType.includes('json');
      response.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      response.end(json ? '{}' : undefined);
    });
  });

  private constructor() {}

  static async start(): Promise<OtlpReceiver> {
    const receiver = new OtlpReceiver();
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Every span of every http/json request so far. */
  spans(): ReceivedSpan[] {
    return this.requests
      .filter((request) => request.path === '/v1/traces' && request.contentType.includes('json'))
      .flatMap((request) => {
        const traces = JSON.parse(request.body.toString('utf8')) as OtlpTraces;
        return (traces.resourceSpans ?? []).flatMap((resourceSpans) => {
          const resource = attributesOf(resourceSpans.resource?.attributes);
          return (resourceSpans.scopeSpans ?? []).flatMap((scope) =>
            (scope.spans ?? []).map((span): ReceivedSpan => ({
              service: String(resource['service.name']),
              resource,
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
              events: (span.events ?? []).map((event) => ({ name: event.name, attributes: attributesOf(event.attributes) })),
              links: (span.links ?? []).map((link) => ({ traceId: link.traceId, spanId: link.spanId })),
              status: span.status?.code ?? 0,
            })),
          );
        });
      });
  }

  /** The http/protobuf requests so far. */
  protobufRequests(): ReceivedRequest[] {
    return this.requests.filter((request) => request.path === '/v1/traces' && request.contentType.includes('protobuf'));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
