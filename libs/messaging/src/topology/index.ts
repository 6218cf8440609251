export * from './topology';
export * from './topology-keeper';
