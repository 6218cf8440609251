'use strict';
/*
 * What the baseline scripts share: their settings from the environment, the message they send (the
 * same envelope and AMQP properties as the project's, so the broker does the same work per message),
 * the quorum queue they use, and the one JSON line each prints when it is done.
 */
const { randomUUID } = require('node:crypto');
const amqplib = require('amqplib');

/** A required or defaulted environment setting. */
function setting(name, fallback) {
  const value = process.env[name];
  if (value !== undefined && value !== '') return value;
  if (fallback === undefined) throw new Error(`${name} is required`);
  return fallback;
}

/** The body the project's producer writes: the JSON envelope. */
function envelopeBody(type, payload, id = randomUUID()) {
  return Buffer.from(JSON.stringify({ id, type, occurredAt: new Date().toISOString(), schemaVersion: 1, payload }));
}

/** The properties the project's publisher sets (libs/messaging/src/envelope/amqp-properties.ts). */
function publishProperties(id, type, correlationId = randomUUID()) {
  return {
    persistent: true,
    mandatory: true,
    messageId: id,
    type,
    contentType: 'application/json',
    timestamp: Math.floor(Date.now() / 1000),
    correlationId,
    headers: { 'x-schema-version': 1, 'x-correlation-id': correlationId },
  };
}

/**
 * A durable topic exchange bound with `#` to a durable quorum queue, like the project's work queue.
 * QUEUE_ARGUMENTS (JSON) gives the queue the project's own arguments (bench/support/broker.ts passes
 * them from buildTopology): a queue with `x-overflow`, dead-lettering and a delivery limit is what the
 * project's publishes land in, so the baseline's land in one too.
 */
async function declareQuorumQueue(channel, exchange, queue) {
  const queueArguments = JSON.parse(setting('QUEUE_ARGUMENTS', '{"x-queue-type":"quorum"}'));
  if (queueArguments['x-queue-type'] !== 'quorum') throw new Error('QUEUE_ARGUMENTS must declare a quorum queue');
  await channel.assertExchange(exchange, 'topic', { durable: true });
  await channel.assertQueue(queue, { durable: true, arguments: queueArguments });
  await channel.bindQueue(queue, exchange, '#');
}

/**
 * amqplib.connect, tried again a few times: a vhost created a moment ago can refuse its first
 * connection (541 INTERNAL_ERROR) while its processes start on a loaded node.
 */
async function connect(url, tries = 5) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await amqplib.connect(url);
    } catch (error) {
      if (attempt >= tries) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

/** The last line a baseline prints: its result, for the benchmark to read. */
function report(result) {
  const memory = { rssBytes: process.memoryUsage().rss, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
  process.stdout.write(`${JSON.stringify({ result: { ...result, ...memory } })}\n`);
}

/**
 * Runs a baseline server: starts it (`start` resolves with its port and what to close at the end),
 * says where it listens, and closes it on SIGTERM or SIGINT.
 */
function serve(start) {
  start()
    .then(({ port, close }) => {
      process.stdout.write(`listening ${port}\n`);
      const stop = () => close().finally(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    })
    .catch((error) => {
      process.stderr.write(`${error.stack}\n`);
      process.exit(1);
    });
}

module.exports = { setting, envelopeBody, publishProperties, declareQuorumQueue, connect, report, serve };
