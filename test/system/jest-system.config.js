/**
 * The black-box system suite (`npm run test:system`): Jest against a running system named by
 * PRODUCER_URL, CONSUMER_URL, RABBITMQ_URL and REDIS_URL (see test/system/README.md). It starts nothing.
 */
const path = require('node:path');
const ts = require('typescript');

const rootDir = path.resolve(__dirname, '..', '..');
const { config } = ts.readConfigFile(path.join(rootDir, 'tsconfig.json'), ts.sys.readFile);

/** @type {import('jest').Config} */
module.exports = {
  rootDir,
  testMatch: ['<rootDir>/test/system/**/*.system-spec.ts'],
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: { ...config.compilerOptions, isolatedModules: true }, diagnostics: false }],
  },
  testTimeout: 60_000,
};
