export * from './redis-effect';
export * from './redis-effect-error';
export * from './guard-stopped-error';
export * from './idempotency-store';
export * from './idempotency-guard';
