import { InvalidConfigurationError } from '../config/invalid-configuration.error';
import { loadTracingSettings } from './tracing-settings';

const load = (env: NodeJS.ProcessEnv) => loadTracingSettings(env, 'producer');
const failure = (env: NodeJS.ProcessEnv) => {
  try {
    load(env);
  } catch (error) {
    return error as InvalidConfigurationError;
  }
  throw new Error('expected the settings to be refused');
};

describe('loadTracingSettings', () => {
  it('is off without an OTLP endpoint, whatever else is set', () => {
    expect(load({})).toEqual({ enabled: false, protocol: 'http/protobuf', serviceName: 'producer' });
    expect(load({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }).enabled).toBe(
      false,
    );
  });

  it('is on with OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, off again with OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true', () => {
    expect(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).enabled).toBe(true);
    expect(load({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector:4318/v1/traces' }).enabled).toBe(true);
    expect(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }).enabled).toBe(false);
    expect(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).enabled).toBe(false);
  });

  it('takes the traces protocol over the general one, and OTEL_SERVICE_NAME over the app name', () => {
    expect(
      load({
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_SERVICE_NAME: 'orders-producer',
      }),
    ).toEqual(expect.objectContaining({ protocol: 'http/json', serviceName: 'orders-producer' }));
  });

  it.each([
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', 'must be http/protobuf or http/json (grpc is not supported)'],
    ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'json', 'must be http/protobuf or http/json (grpc is not supported)'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318', 'must be an http:// or https:// URL'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'ftp://collector', 'must be an http:// or https:// URL'],
    ['OTEL_TRACES_EXPORTER', 'zipkin', 'must be otlp or none'],
    ['OTEL_SDK_DISABLED', 'yes', 'must be true or false'],
    ['OTEL_TRACES_SAMPLER', 'jaeger_remote', 'must be one of'],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5', 'must be a number from 0 to 1'],
    ['OTEL_TRACES_SAMPLER_ARG', 'half', 'must be a number from 0 to 1'],
    ['OTEL_RESOURCE_ATTRIBUTES', 'team', 'must be comma-separated key=value pairs'],
    ['OTEL_SERVICE_NAME', 'x'.repeat(256), 'must be at most 255 characters'],
  ])('refuses %s=%p, naming it', (variable, value, reason) => {
    const error = failure({ [variable]: value });
    expect(error).toBeInstanceOf(InvalidConfigurationError);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(`Invalid configuration: ${variable} ${reason}`);
  });

  it('accepts the samplers and ratios the SDK reads, and refuses a ratio given to a sampler that ignores it', () => {
    expect(() => load({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })).not.toThrow();
    expect(() => load({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1' })).not.toThrow();
    expect(() => load({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod,service.namespace=shop' })).not.toThrow();
    const error = failure({ OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: '0.5' });
    expect([error.variable, error.related]).toEqual(['OTEL_TRACES_SAMPLER_ARG', ['OTEL_TRACES_SAMPLER']]);
  });
});
