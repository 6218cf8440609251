export * from './settings-or-exit';
export * from './logger.module';
export * from './http-app';
export * from './admin-requests';
export * from './json-body-parser';
