#!/usr/bin/env node
/*
 * Checks, before the tests, that RabbitMQ and Redis answer (RABBITMQ_URL / REDIS_URL, or the local
 * defaults), each within 5 s. Exits 1 with a message naming the one that does not and how to start it.
 */
'use strict';

const net = require('node:net');

const TIMEOUT_MS = 5000;
const amqpUrl = (process.env.RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672').split(',')[0].trim();
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

const mask = (url) => url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/i, '$1***@');

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

function tcpConnect(host, port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', (error) => {
      socket.destroy();
      reject(new Error(`TCP connect to ${host}:${port} failed: ${error.code || error.message}`));
    });
  });
}

async function checkRabbit() {
  const url = new URL(amqpUrl);
  const port = Number(url.port || (url.protocol === 'amqps:' ? 5671 : 5672));
  await withTimeout(tcpConnect(url.hostname, port), `TCP ${url.hostname}:${port}`);
  const amqplib = require('amqplib');
  const connection = await withTimeout(amqplib.connect(amqpUrl), 'AMQP handshake').catch((error) => {
    throw Object.assign(new Error(`it accepts TCP but the AMQP connection failed: ${error.message}`), {
      hint: 'check the user, password and vhost in RABBITMQ_URL',
    });
  });
  connection.on('error', () => undefined);
  await connection.close().catch(() => undefined);
}

async function checkRedis() {
  const url = new URL(redisUrl);
  const port = Number(url.port || 6379);
  await withTimeout(tcpConnect(url.hostname, port), `TCP ${url.hostname}:${port}`);
  const Redis = require('ioredis');
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: TIMEOUT_MS });
  client.on('error', () => undefined);
  try {
    try {
      await withTimeout(client.connect(), 'Redis connect');
      const pong = await withTimeout(client.ping(), 'Redis PING');
      if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
    } catch (error) {
      throw Object.assign(new Error(`it accepts TCP but PING failed: ${error.message}`), {
        hint: 'check the password and database in REDIS_URL',
      });
    }
  } finally {
    client.disconnect();
  }
}

async function main() {
  const problems = [];
  const [rabbit, redis] = await Promise.allSettled([checkRabbit(), checkRedis()]);
  if (rabbit.status === 'rejected') {
    problems.push(
      `RabbitMQ is unreachable at ${mask(amqpUrl)}: ${rabbit.reason && rabbit.reason.message}\n` +
        `  ${(rabbit.reason && rabbit.reason.hint) || 'start it with: rabbitmq-server -detached  (or point RABBITMQ_URL at a running broker)'}`,
    );
  }
  if (redis.status === 'rejected') {
    problems.push(
      `Redis is unreachable at ${mask(redisUrl)}: ${redis.reason && redis.reason.message}\n` +
        `  ${(redis.reason && redis.reason.hint) || 'start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no  (or point REDIS_URL at a running Redis)'}`,
    );
  }
  if (problems.length > 0) {
    process.stderr.write(`check-services: the tests need RabbitMQ and Redis.\n${problems.join('\n')}\n`);
    process.exit(1);
  }
  process.stdout.write(`check-services: RabbitMQ (${mask(amqpUrl)}) and Redis (${mask(redisUrl)}) answer.\n`);
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`check-services: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
