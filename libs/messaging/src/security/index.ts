export * from './api-key.guard';
