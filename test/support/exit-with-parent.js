'use strict';
/*
 * Preloaded (`node -r`) into every app the e2e harness starts. The harness keeps an IPC channel open
 * to the app; when the test process goes away in any way (ends, crashes, is killed), the channel
 * closes and the app is killed too, so no test run leaves apps behind. Changes nothing else.
 */
if (typeof process.send === 'function') {
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  // The channel must not keep the app alive by itself.
  if (process.channel && typeof process.channel.unref === 'function') process.channel.unref();
}
