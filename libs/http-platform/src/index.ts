export * from './bootstrap/settings-or-exit';
export * from './bootstrap/http-app';
export * from './bootstrap/json-body-parser';
export * from './logging/logger.module';
export * from './admin/admin-requests';
export * from './security';
