#!/usr/bin/env node
/**
 * Runs the e2e and fault suites (`npm run test:e2e`): every suite one after another (--runInBand),
 * except the suites of SIDE_SUITES, which run at the same time in a second jest process. Those
 * spend most of their time waiting on servers of their own (consumer-timeout waits over a minute
 * for RabbitMQ 3.10's once-a-minute consumer_timeout check, on a node it starts itself, with a Redis
 * of its own), so they neither share state with the other suites nor load the machine much; run in
 * line they added over a minute to every `npm test`. The side run's output is printed after the
 * main run's, and the exit code is non-zero when either run failed.
 *
 * Extra arguments go to both runs (e.g. `npm run test:e2e -- --verbose`); naming suites runs them
 * all in line, as plain jest would.
 */
const { spawn } = require('node:child_process');
const { join, resolve } = require('node:path');

const ROOT = resolve(__dirname, '..', '..');
const CONFIG = join('test', 'jest-e2e.config.js');
const SIDE_SUITES = ['test/fault/consumer-timeout.e2e-spec.ts'];
const JEST = require.resolve('jest/bin/jest', { paths: [ROOT] });

const extra = process.argv.slice(2);
const namesSuites = extra.some((arg) => !arg.startsWith('-'));

function run(args, { capture }) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [JEST, '--config', CONFIG, '--runInBand', ...args], {
      cwd: ROOT,
      stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    });
    let output = '';
    if (capture) {
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
    }
    child.on('close', (code, signal) => done({ code: code ?? (signal ? 1 : 0), output }));
    // Ctrl-C reaches both through the process group; a plain kill of this process ends them too.
    process.once('SIGTERM', () => child.kill('SIGTERM'));
  });
}

async function main() {
  if (namesSuites) {
    process.exitCode = (await run(extra, { capture: false })).code;
    return;
  }
  const ignore = SIDE_SUITES.map((suite) => `--testPathIgnorePatterns=${suite.replace(/\./g, '\\.')}`);
  const side = run([...extra, ...SIDE_SUITES], { capture: true });
  const main = await run([...extra, ...ignore], { capture: false });
  const sideResult = await side;
  process.stdout.write(`\n---- suites run beside the others: ${SIDE_SUITES.join(', ')} ----\n${sideResult.output}`);
  process.exitCode = main.code !== 0 ? main.code : sideResult.code;
}

void main();
