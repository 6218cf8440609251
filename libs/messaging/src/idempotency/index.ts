export * from './redis-effect';
export * from './idempotency-store';
export * from './idempotency-guard';
