import { randomUUID } from 'node:crypto';

/** The schema version this code writes and the versions it can read. */
export const CURRENT_SCHEMA_VERSION = 1;
export const SUPPORTED_SCHEMA_VERSIONS: readonly number[] = [1];

/** A message id is 1 to this many characters (the consumer dead-letters a longer one as invalid). */
export const MESSAGE_ID_MAX_LENGTH = 200;

/** `type` doubles as the topic routing key, so AMQP wildcards (`*`, `#`) are not allowed in it. */
export const MESSAGE_TYPE_PATTERN = /^[a-zA-Z0-9._-]{1,128}$/;

export type MessagePayload = Record<string, unknown>;

/** What travels on the wire as the message body. */
export interface MessageEnvelope<P extends MessagePayload = MessagePayload> {
  id: string;
  type: string;
  occurredAt: string;
  schemaVersion: number;
  payload: P;
}

export function createEnvelope<P extends MessagePayload>(
  type: string,
  payload: P,
  id: string = randomUUID(),
  occurredAt: Date = new Date(),
): MessageEnvelope<P> {
  return { id, type, occurredAt: occurredAt.toISOString(), schemaVersion: CURRENT_SCHEMA_VERSION, payload };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why a body is not a message this code can process; used as the dead-letter reason. */
export class InvalidEnvelopeError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidEnvelopeError';
  }
}

/** Checks an already parsed body; returns it typed or throws InvalidEnvelopeError with the reason. */
export function assertEnvelope(body: unknown): MessageEnvelope {
  if (!isPlainObject(body)) throw new InvalidEnvelopeError('body is not a JSON object');
  const { id, type, occurredAt, schemaVersion, payload } = body;
  if (typeof id !== 'string' || id.length === 0 || id.length > MESSAGE_ID_MAX_LENGTH) {
    throw new InvalidEnvelopeError('envelope has no valid id');
  }
  if (typeof schemaVersion !== 'number' || !SUPPORTED_SCHEMA_VERSIONS.includes(schemaVersion)) {
    throw new InvalidEnvelopeError(`unsupported schema version ${JSON.stringify(schemaVersion)}`);
  }
  if (typeof type !== 'string' || !MESSAGE_TYPE_PATTERN.test(type)) {
    throw new InvalidEnvelopeError('envelope has no valid type');
  }
  if (typeof occurredAt !== 'string' || Number.isNaN(Date.parse(occurredAt))) {
    throw new InvalidEnvelopeError('envelope has no valid occurredAt');
  }
  if (!isPlainObject(payload)) throw new InvalidEnvelopeError('envelope payload is not a JSON object');
  return body as unknown as MessageEnvelope;
}

/** Parses raw message bytes into an envelope, or throws InvalidEnvelopeError. */
export function parseEnvelope(content: Buffer): MessageEnvelope {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    throw new InvalidEnvelopeError('body is not valid JSON');
  }
  return assertEnvelope(body);
}
