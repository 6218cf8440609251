export * from './redis-client';
export * from './redis-failure-kind';
