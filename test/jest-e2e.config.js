/**
 * End-to-end suites: real producer and consumer processes (the built dist/) against the real RabbitMQ
 * and Redis, each suite in its own vhost and Redis database. Run with --runInBand.
 */
const path = require('node:path');
const ts = require('typescript');

const rootDir = path.resolve(__dirname, '..');
const { config } = ts.readConfigFile(path.join(rootDir, 'tsconfig.json'), ts.sys.readFile);

/** @type {import('jest').Config} */
module.exports = {
  rootDir,
  testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: {
    // Transpile only (isolatedModules, no per-file type check) to keep start-up fast; `tsc --noEmit` checks types.
    '^.+\\.ts$': ['ts-jest', { tsconfig: { ...config.compilerOptions, isolatedModules: true }, diagnostics: false }],
  },
  moduleNameMapper: {
    '^@app/messaging(|/.*)$': '<rootDir>/libs/messaging/src$1',
    '^@app/http-platform(|/.*)$': '<rootDir>/libs/http-platform/src$1',
    '^@app/console(|/.*)$': '<rootDir>/libs/console/src$1',
  },
  testTimeout: 120_000,
};
