import { z } from 'zod';
import { InvalidConfigurationError } from '../config/invalid-configuration.error';

/**
 * The standard OpenTelemetry variables tracing reads (the SDK reads them too; they are checked here
 * first so that a malformed one stops the start with one line naming it, instead of a diagnostic the
 * SDK logs and ignores). Tracing is on only when an OTLP endpoint is set.
 */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface TracingSettings {
  enabled: boolean;
  protocol: OtlpProtocol;
  /** OTEL_SERVICE_NAME, else the app's own name (`producer` / `consumer`). */
  serviceName: string;
}

const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
const RATIO_SAMPLERS: readonly string[] = ['traceidratio', 'parentbased_traceidratio'];

const httpUrl = z
  .string()
  .trim()
  .refine((value) => /^https?:\/\/[^\s]+$/.test(value) && URL.canParse(value), { message: 'must be an http:// or https:// URL' })
  .optional();
const protocol = z.enum(['http/protobuf', 'http/json'], { error: 'must be http/protobuf or http/json (grpc is not supported)' }).optional();
/** `key=value` pairs, comma-separated, as the W3C Baggage format the SDK parses (values percent-encoded). */
const resourceAttributes = z
  .string()
  .refine((value) => value.trim() === '' || value.split(',').every((pair) => /^\s*[^=\s,]+\s*=[^,]*$/.test(pair)), {
    message: 'must be comma-separated key=value pairs',
  })
  .optional();

export const tracingEnvSchema = z.object({
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: httpUrl,
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol,
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none'], { error: 'must be otlp or none' }).optional(),
  OTEL_SDK_DISABLED: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
  OTEL_SERVICE_NAME: z.string().trim().min(1, 'must not be empty').max(255, 'must be at most 255 characters').optional(),
  OTEL_RESOURCE_ATTRIBUTES: resourceAttributes,
  OTEL_TRACES_SAMPLER: z.enum(SAMPLERS, { error: `must be one of ${SAMPLERS.join(', ')}` }).optional(),
  OTEL_TRACES_SAMPLER_ARG: z
    .string()
    .refine((value) => /^\s*(0(\.\d+)?|1(\.0+)?|\.\d+)\s*$/.test(value), { message: 'must be a number from 0 to 1' })
    .optional(),
});

/** Reads and checks the OTEL_* variables; throws InvalidConfigurationError naming the first bad one. */
export function loadTracingSettings(env: NodeJS.ProcessEnv, defaultServiceName: string): TracingSettings {
  // An empty variable counts as unset, as the SDK treats it.
  const given = Object.fromEntries(Object.keys(tracingEnvSchema.shape).flatMap((name) => (env[name]?.trim() ? [[name, env[name]]] : [])));
  const parsed = tracingEnvSchema.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidConfigurationError(String(issue.path[0]), issue.message);
  }
  const values = parsed.data;
  if (
    values.OTEL_TRACES_SAMPLER_ARG !== undefined &&
    values.OTEL_TRACES_SAMPLER !== undefined &&
    !RATIO_SAMPLERS.includes(values.OTEL_TRACES_SAMPLER)
  ) {
    throw new InvalidConfigurationError('OTEL_TRACES_SAMPLER_ARG', `is only read by ${RATIO_SAMPLERS.join(' and ')}`, [
      'OTEL_TRACES_SAMPLER',
    ]);
  }
  const endpoint = values.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? values.OTEL_EXPORTER_OTLP_ENDPOINT;
  return {
    enabled: endpoint !== undefined && values.OTEL_TRACES_EXPORTER !== 'none' && values.OTEL_SDK_DISABLED !== 'true',
    protocol: values.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? values.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf',
    serviceName: values.OTEL_SERVICE_NAME ?? defaultServiceName,
  };
}
