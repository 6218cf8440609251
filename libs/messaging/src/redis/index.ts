export * from './redis-client';
export * from './replica-acks';
