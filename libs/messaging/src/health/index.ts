export * from './dependency-probe';
export * from './messaging.health';
export * from './messaging-health.module';
