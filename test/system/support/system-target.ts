import { randomBytes } from 'node:crypto';

/**
 * The running system the black-box suite talks to, named only by the environment (the suite starts
 * nothing). Defaults are the ports docker-compose.yml publishes on this machine. Object names default
 * to the contract's and follow the apps' own variables when a deployment renamed them.
 */
export interface SystemTarget {
  producerUrl: string;
  consumerUrl: string;
  rabbitmqUrl: string;
  redisUrl: string;
  /** Sent as X-Api-Key on POST /messages and the admin routes when the system has API_KEYS set. */
  apiKey?: string;
  /** The system's MAX_BODY_BYTES, so a body just over it is the one refused with 413. */
  maxBodyBytes: number;
  /** How long a message may take from its 202 to its processed entry (or to the DLQ). */
  deliveryTimeoutMs: number;
  names: { exchange: string; deadLetterQueue: string; processedStream: string };
}

const DEFAULT_MAX_BODY_BYTES = 262_144;
const DEFAULT_DELIVERY_TIMEOUT_MS = 20_000;

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new Error(`${name} must be a positive whole number, not ${JSON.stringify(raw)}`);
  return Number(raw);
}

const withoutTrailingSlash = (url: string) => url.replace(/\/+$/, '');

export function systemTarget(env: NodeJS.ProcessEnv = process.env): SystemTarget {
  return {
    producerUrl: withoutTrailingSlash(env.PRODUCER_URL || 'http://127.0.0.1:3000'),
    consumerUrl: withoutTrailingSlash(env.CONSUMER_URL || 'http://127.0.0.1:3001'),
    // The first node of a cluster list is enough for a client.
    rabbitmqUrl: (env.RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672').split(',')[0].trim(),
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    apiKey: env.SYSTEM_API_KEY || undefined,
    maxBodyBytes: positiveInt(env, 'SYSTEM_MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES),
    deliveryTimeoutMs: positiveInt(env, 'SYSTEM_DELIVERY_TIMEOUT_MS', DEFAULT_DELIVERY_TIMEOUT_MS),
    names: {
      exchange: env.MESSAGING_EXCHANGE || 'messaging.events',
      deadLetterQueue: env.MESSAGING_DLQ || 'messaging.consumer.dlq',
      processedStream: env.PROCESSED_STREAM || 'messaging:processed',
    },
  };
}

/**
 * Message types of one run of one spec file: `system-test.<random>.<name>`. Everything the suite
 * sends carries such a type, so on a shared deployment it finds (and tidies) only its own traffic.
 */
export class RunTypes {
  readonly prefix = `system-test.${randomBytes(5).toString('hex')}`;

  type(name: string): string {
    return `${this.prefix}.${name}`;
  }

  owns(type: string | undefined): boolean {
    return type !== undefined && type.startsWith(`${this.prefix}.`);
  }
}
