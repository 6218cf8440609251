'use strict';
/*
 * Consumer baseline: raw amqplib consume + ack of a pre-filled quorum queue with the project's
 * prefetch, nothing else done per message. The first WARMUP acks are not timed; the rate is taken over
 * the COUNT acks after them, as the consumer benchmark does for the project.
 *
 * env: AMQP_URL, QUEUE, PREFETCH (default 50), WARMUP, COUNT
 * prints {"result": {"count", "ms", "perSecond", "cpuMs", "rssBytes"}} (cpuMs: this process's CPU time over
 * the timed acks).
 */
const amqplib = require('amqplib');
const { setting, report } = require('./common');

async function main() {
  const queue = setting('QUEUE');
  const warmup = Number(setting('WARMUP'));
  const count = Number(setting('COUNT'));
  const connection = await amqplib.connect(setting('AMQP_URL'));
  const channel = await connection.createChannel();
  await channel.prefetch(Number(setting('PREFETCH', '50')));

  let acked = 0;
  let started = performance.now();
  let cpuAtStart = process.cpuUsage();
  await new Promise((resolve) => {
    void channel.consume(queue, (delivery) => {
      if (delivery === null) return;
      channel.ack(delivery);
      acked++;
      if (acked === warmup) {
        started = performance.now();
        cpuAtStart = process.cpuUsage();
      }
      if (acked === warmup + count) resolve();
    });
  });
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuAtStart);

  report({ count, ms, perSecond: (count / ms) * 1000, cpuMs: (cpu.user + cpu.system) / 1000 });
  await connection.close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
