export * from './delivery-span';
export * from './message-attributes';
export * from './publish-span';
