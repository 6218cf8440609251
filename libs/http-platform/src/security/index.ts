export * from './api-key.guard';
export * from './api-key-throttler.guard';
export * from './security-headers';
