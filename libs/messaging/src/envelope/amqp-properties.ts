import type { MessageProperties, Options } from 'amqplib';
import type { WireMessage } from './wire-message';

/** AMQP header names this system writes. */
export const HEADERS = {
  correlationId: 'x-correlation-id',
  schemaVersion: 'x-schema-version',
  attempt: 'x-attempt',
  failureReason: 'x-failure-reason',
  failureKind: 'x-failure-kind',
  failedAt: 'x-failed-at',
  failedQueue: 'x-failed-queue',
  failedAttempts: 'x-failed-attempts',
  firstFailedAt: 'x-first-failed-at',
} as const;

/** The properties every message carries on the wire (the contract's list). */
export function publishProperties(message: WireMessage, occurredAtMs = Date.now()): Options.Publish {
  const headers: Record<string, unknown> = { ...message.trace, [HEADERS.schemaVersion]: 1 };
  if (message.correlationId) headers[HEADERS.correlationId] = message.correlationId;
  return {
    persistent: true,
    mandatory: true,
    messageId: message.id,
    type: message.type,
    contentType: 'application/json',
    timestamp: Math.floor(occurredAtMs / 1000),
    correlationId: message.correlationId,
    headers,
  };
}

/**
 * The correlation id a delivery carries: the `x-correlation-id` header, else the AMQP
 * `correlationId` property (a message from a publisher that sets only the property), else undefined.
 */
export function correlationIdOfDelivery(properties: Pick<MessageProperties, 'headers' | 'correlationId'>): string | undefined {
  const header: unknown = properties.headers?.[HEADERS.correlationId];
  if (typeof header === 'string' && header.length > 0) return header;
  const property: unknown = properties.correlationId;
  return typeof property === 'string' && property.length > 0 ? property : undefined;
}
