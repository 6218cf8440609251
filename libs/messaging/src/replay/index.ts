export * from './backoff';
export * from './replay.job';
