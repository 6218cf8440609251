export * from './message-envelope';
export * from './message-id';
export * from './amqp-properties';
