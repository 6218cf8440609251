import { InvalidConfigurationError } from '../config/invalid-configuration.error';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { traceHttpRequests } from './http-server-spans';
import { loadTracingSettings, type TracingSettings } from './tracing-settings';

/** What main.ts holds: the settings read, and what to do with the Nest app once it exists. */
export interface Tracing {
  settings: TracingSettings;
  /** Traces the app's HTTP requests and flushes the spans when the app closes; nothing when tracing is off. */
  instrument(app: NestFastifyApplication): void;
}

/** Spans still buffered when the app closes get this long to be exported. */
const FLUSH_BOUND_MS = 2000;

/**
 * Starts the OpenTelemetry SDK (NodeSDK) before Nest, when an OTLP endpoint is set; otherwise loads
 * nothing of it, and the library's spans (spans/, @opentelemetry/api only) stay no-ops. The SDK reads
 * the standard variables itself (endpoint, headers, timeout, OTEL_RESOURCE_ATTRIBUTES, the sampler,
 * OTEL_BSP_*, OTEL_PROPAGATORS); they are checked first, and a malformed one stops the process with one
 * line naming it. Only traces: metrics stay on /metrics and logs on stdout.
 */
export async function startTracing(defaultServiceName: string, env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  let settings: TracingSettings;
  try {
    settings = loadTracingSettings(env, defaultServiceName);
  } catch (error) {
    process.stderr.write(`${error instanceof InvalidConfigurationError ? error.message : String(error)}\n`);
    process.exit(1);
  }
  if (!settings.enabled) return { settings, instrument: () => undefined };

  const [{ NodeSDK }, exporter] = await Promise.all([import('@opentelemetry/sdk-node'), traceExporter(settings)]);
  const sdk = new NodeSDK({
    // The resource: OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES (the env detector), host and process.
    serviceName: env.OTEL_SERVICE_NAME?.trim() ? undefined : settings.serviceName,
    traceExporter: exporter,
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return {
    settings,
    instrument: (app) => {
      traceHttpRequests(app);
      app
        .getHttpAdapter()
        .getInstance()
        .addHook('onClose', () =>
          Promise.race([sdk.shutdown(), new Promise<void>((resolve) => setTimeout(resolve, FLUSH_BOUND_MS).unref())]).catch(
            () => undefined,
          ),
        );
    },
  };
}

/** The OTLP/HTTP exporter of the protocol; each reads its endpoint, headers and timeout from the environment. */
async function traceExporter(settings: TracingSettings) {
  if (settings.protocol === 'http/json') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter();
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter();
}
