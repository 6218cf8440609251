'use strict';
/*
 * Publishing baseline (and the queue filler of the consumer benchmark): COUNT envelope messages,
 * published on one amqplib confirm channel with at most WINDOW confirms outstanding, timed from the
 * first publish to the last confirm. Each message has its own id and the project's properties.
 *
 * env: AMQP_URL, EXCHANGE, COUNT, WINDOW (default 500), TYPE (routing key, default bench.publish),
 *      PAD (characters of filler in the payload, default 0), DECLARE_QUEUE (declare this quorum queue
 *      bound to EXCHANGE first; otherwise the exchange must exist)
 * prints {"result": {"count", "ms", "perSecond", "nacked", "cpuMs" (user + system over the timed phase), "rssBytes"}}.
 */
const { randomUUID } = require('node:crypto');
const { setting, envelopeBody, publishProperties, declareQuorumQueue, connect, report } = require('./common');

async function main() {
  const exchange = setting('EXCHANGE');
  const count = Number(setting('COUNT'));
  const window = Number(setting('WINDOW', '500'));
  const type = setting('TYPE', 'bench.publish');
  const pad = 'x'.repeat(Number(setting('PAD', '0')));
  const connection = await connect(setting('AMQP_URL'));
  const channel = await connection.createConfirmChannel();
  const queue = process.env.DECLARE_QUEUE;
  if (queue) await declareQuorumQueue(channel, exchange, queue);

  // Built before the clock starts, as the outbox holds its messages ready-made.
  const messages = Array.from({ length: count }, (_, i) => {
    const id = randomUUID();
    return { body: envelopeBody(type, { i, pad }, id), properties: publishProperties(id, type) };
  });

  let outstanding = 0;
  let nacked = 0;
  let wake;
  const confirmed = (err) => {
    if (err) nacked++;
    outstanding--;
    if (wake) {
      const resume = wake;
      wake = undefined;
      resume();
    }
  };
  const slot = () => new Promise((resolve) => (wake = resolve));

  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  for (const message of messages) {
    while (outstanding >= window) await slot();
    outstanding++;
    if (!channel.publish(exchange, type, message.body, message.properties, confirmed)) {
      await new Promise((resolve) => channel.once('drain', resolve));
    }
  }
  while (outstanding > 0) await slot();
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuStarted);

  report({ count, ms, perSecond: (count / ms) * 1000, nacked, cpuMs: (cpu.user + cpu.system) / 1000 });
  await connection.close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
