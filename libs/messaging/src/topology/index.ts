export * from './topology';
export * from './topology-keeper';
export * from './topology-declaration';
export * from './queue-states';
export * from './shared-queue-states';
