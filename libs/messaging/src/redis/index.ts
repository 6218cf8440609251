export * from './redis-client';
export * from './redis-failure-kind';
export * from './replica-acks';
