export * from './dead-letter-record';
export * from './dead-letter-index';
export * from './dead-letter-pass';
export * from './dead-letter-reconciler';
export * from './dead-letter-removal';
