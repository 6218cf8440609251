export * from './messaging-settings';
