export * from './topology';
export * from './topology-keeper';
export * from './topology-declaration';
