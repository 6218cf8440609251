export * from './settings-or-exit';
export * from './logger.module';
export * from './http-app';
