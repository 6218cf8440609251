'use strict';
/*
 * Ingest baseline: a plain Fastify route that publishes each POSTed message on one amqplib confirm
 * channel to a quorum queue and answers 202 once the broker confirmed it (503 on a nack). No
 * framework, no outbox, no metrics, no logging: the floor the producer's POST /messages is held to.
 *
 * env: AMQP_URL, PORT, EXCHANGE (default bench.baseline), QUEUE (default bench.baseline)
 * prints `listening <port>` once it accepts requests.
 */
const { randomUUID } = require('node:crypto');
const Fastify = require('fastify');
const { setting, envelopeBody, publishProperties, declareQuorumQueue, connect, serve } = require('./common');

async function main() {
  const exchange = setting('EXCHANGE', 'bench.baseline');
  const connection = await connect(setting('AMQP_URL'));
  const channel = await connection.createConfirmChannel();
  await declareQuorumQueue(channel, exchange, setting('QUEUE', 'bench.baseline'));

  const app = Fastify({ logger: false });
  app.post('/messages', (request, reply) => {
    const { type, payload } = request.body ?? {};
    if (typeof type !== 'string' || typeof payload !== 'object' || payload === null) {
      reply.code(400).send({ message: 'type and payload are required' });
      return;
    }
    const id = randomUUID();
    channel.publish(exchange, type, envelopeBody(type, payload, id), publishProperties(id, type), (err) => {
      if (err) reply.code(503).send({ id, message: 'nacked' });
      else reply.code(202).send({ id, status: 'published' });
    });
  });
  const port = Number(setting('PORT'));
  await app.listen({ port, host: '127.0.0.1' });
  return { port, close: () => app.close().then(() => connection.close()) };
}

serve(main);
