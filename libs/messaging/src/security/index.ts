export * from './api-key.guard';
export * from './security-headers';
