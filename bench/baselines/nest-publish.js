'use strict';
/*
 * Ingest reference point between the bare baseline and the project: the bare route's work (publish
 * on one amqplib confirm channel to a quorum queue, 202 after the confirm) in the smallest NestJS 11
 * app on the same Fastify adapter: one controller, one @Body() parameter, no guards, no logger, no
 * security headers, no metrics, no outbox. What it costs over the bare route is Nest's own routing
 * (router proxy, execution context, parameter resolution, response handling): the floor under any
 * Nest controller, the producer's included.
 *
 * env: AMQP_URL, PORT, EXCHANGE (default bench.baseline), QUEUE (default bench.baseline)
 * prints `listening <port>` once it accepts requests.
 */
require('reflect-metadata');
const { randomUUID } = require('node:crypto');
const { Body, Controller, HttpCode, Module, Post } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { FastifyAdapter } = require('@nestjs/platform-fastify');
const { setting, envelopeBody, publishProperties, declareQuorumQueue, connect, serve } = require('./common');

/** Applies legacy (TypeScript-style) decorators by hand: this file is plain JavaScript. */
function decorate(target, key, ...decorators) {
  const descriptor = key === undefined ? undefined : Object.getOwnPropertyDescriptor(target.prototype, key);
  for (const decorator of decorators.reverse()) {
    if (key === undefined) decorator(target);
    else decorator(target.prototype, key, descriptor);
  }
  if (descriptor) Object.defineProperty(target.prototype, key, descriptor);
}

async function main() {
  const exchange = setting('EXCHANGE', 'bench.baseline');
  const connection = await connect(setting('AMQP_URL'));
  const channel = await connection.createConfirmChannel();
  await declareQuorumQueue(channel, exchange, setting('QUEUE', 'bench.baseline'));

  class MessagesController {
    send(body) {
      const { type, payload } = body ?? {};
      const id = randomUUID();
      return new Promise((resolve, reject) => {
        channel.publish(exchange, type, envelopeBody(type, payload, id), publishProperties(id, type), (err) =>
          err ? reject(new Error('nacked')) : resolve({ id, status: 'published' }),
        );
      });
    }
  }
  Body()(MessagesController.prototype, 'send', 0);
  decorate(MessagesController, 'send', Post(), HttpCode(202));
  decorate(MessagesController, undefined, Controller('messages'));
  class AppModule {}
  decorate(AppModule, undefined, Module({ controllers: [MessagesController] }));

  const app = await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false });
  const port = Number(setting('PORT'));
  await app.listen(port, '127.0.0.1');
  return { port, close: () => app.close().then(() => connection.close()) };
}

serve(main);
