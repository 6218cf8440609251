export * from './messaging-metrics';
export * from './metrics.controller';
