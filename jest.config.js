/** Unit tests: `*.spec.ts` beside the source under apps/ and libs/. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
  roots: ['<rootDir>/apps', '<rootDir>/libs'],
  testMatch: ['**/*.spec.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: { '^@app/messaging(|/.*)$': '<rootDir>/libs/messaging/src$1' },
};
