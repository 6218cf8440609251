export * from './message-envelope';
export * from './message-id';
export * from './amqp-properties';
export * from './invalid-message.error';
export * from './payload-shape';
export * from './wire-message';
export * from './message-selection';
export * from './payload-schema';
