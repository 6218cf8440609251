export * from './messaging-settings';
export * from './load-settings';
export * from './invalid-configuration.error';
export * from './settings-consistency';
export * from './settings-description';
export * from './redis-url';
export * from './subscription-definition';
export * from './subscription-settings';
