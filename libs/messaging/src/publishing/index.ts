export * from './publish-errors';
export * from './confirmed-publisher';
export * from './reliable-publisher.service';
export * from './reliable-client-proxy';
