/** Unit tests: `*.spec.ts` under apps/ and libs/ (the e2e suites live in test/, see test/jest-e2e.config.js). */
/** @type {import('jest').Config} */
module.exports = {
  rootDir: __dirname,
  roots: ['<rootDir>/apps', '<rootDir>/libs'],
  testMatch: ['**/*.spec.ts'],
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
  },
  moduleNameMapper: {
    '^@app/messaging(|/.*)$': '<rootDir>/libs/messaging/src$1',
    '^@app/http-platform(|/.*)$': '<rootDir>/libs/http-platform/src$1',
    '^@app/console(|/.*)$': '<rootDir>/libs/console/src$1',
  },
  collectCoverageFrom: ['{apps,libs}/**/*.ts', '!**/*.spec.ts', '!**/main.ts', '!**/index.ts'],
  coverageDirectory: '<rootDir>/coverage',
};
