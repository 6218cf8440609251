import { InvalidMessageError } from './invalid-message.error';
import {
  CURRENT_SCHEMA_VERSION,
  isPlainObject,
  MESSAGE_ID_MAX_LENGTH,
  MESSAGE_TYPE_PATTERN,
  SUPPORTED_SCHEMA_VERSIONS,
  type MessageEnvelope,
  type MessagePayload,
} from './message-envelope';
import { DEFAULT_WIRE_LIMITS, payloadProblem, type WireLimits } from './payload-shape';

/** A message as it is published and as the outbox keeps it: the encoded envelope and what goes in its properties. */
export interface WireMessage {
  id: string;
  type: string;
  body: Buffer;
  correlationId?: string;
  /** The trace context of its publish span (W3C traceparent / tracestate), sent as AMQP headers and kept with an outbox record. */
  trace?: Record<string, string>;
}

/** messageId, type and correlationId travel as AMQP short strings: at most 255 bytes of UTF-8. */
export const AMQP_SHORT_STRING_MAX_BYTES = 255;

const ID_RULE = `a string of 1 to ${MESSAGE_ID_MAX_LENGTH} characters (at most ${AMQP_SHORT_STRING_MAX_BYTES} bytes of UTF-8)`;

function idProblem(id: unknown): string | undefined {
  return typeof id !== 'string' ||
    id.length === 0 ||
    id.length > MESSAGE_ID_MAX_LENGTH ||
    Buffer.byteLength(id) > AMQP_SHORT_STRING_MAX_BYTES
    ? `message id must be ${ID_RULE}`
    : undefined;
}

function typeProblem(type: unknown): string | undefined {
  return typeof type !== 'string' || !MESSAGE_TYPE_PATTERN.test(type)
    ? 'message type must be 1 to 128 characters of a-z A-Z 0-9 . _ -'
    : undefined;
}

/** Why the envelope is not one the consumer would accept, or undefined. The rules of assertEnvelope, said for the sender. */
function envelopeProblem(envelope: MessageEnvelope): string | undefined {
  if (!isPlainObject(envelope)) return 'the message must be an envelope object';
  const { id, type, occurredAt, schemaVersion, payload } = envelope as unknown as Record<string, unknown>;
  const problem = idProblem(id) ?? typeProblem(type);
  if (problem !== undefined) return problem;
  if (typeof schemaVersion !== 'number' || !SUPPORTED_SCHEMA_VERSIONS.includes(schemaVersion)) {
    return `unsupported schema version ${JSON.stringify(schemaVersion) ?? String(schemaVersion)}`;
  }
  if (typeof occurredAt !== 'string' || Number.isNaN(Date.parse(occurredAt))) return 'occurredAt must be a date string';
  if (!isPlainObject(payload)) return 'payload must be a JSON object';
  return undefined;
}

function correlationIdProblem(correlationId: unknown): string | undefined {
  if (correlationId === undefined) return undefined;
  return typeof correlationId !== 'string' || Buffer.byteLength(correlationId) > AMQP_SHORT_STRING_MAX_BYTES
    ? `correlation id must be a string of at most ${AMQP_SHORT_STRING_MAX_BYTES} bytes of UTF-8`
    : undefined;
}

/**
 * Encodes an envelope for publishing, after checking everything that would otherwise fail later: in
 * amqplib's encoder (a short string over 255 bytes), at the broker (a body over its
 * max_message_size), in JSON.stringify (a cycle, a BigInt, a payload deep enough to overflow the
 * stack), silently (NaN and ±Infinity become null), or at the consumer (which dead-letters an id,
 * type or schema version it does not accept). Throws InvalidMessageError, before anything is sent.
 * An empty correlation id counts as none.
 */
export function toWireMessage(envelope: MessageEnvelope, correlationId?: string, limits: WireLimits = DEFAULT_WIRE_LIMITS): WireMessage {
  const problem =
    envelopeProblem(envelope) ?? correlationIdProblem(correlationId) ?? payloadProblem(envelope.payload, limits.maxPayloadDepth);
  if (problem !== undefined) throw new InvalidMessageError(problem);
  let json: string;
  try {
    json = JSON.stringify(envelope);
  } catch (error) {
    throw new InvalidMessageError(`payload cannot be encoded as JSON: ${(error as Error).message}`);
  }
  const body = Buffer.from(json);
  if (body.length > limits.maxMessageBytes) {
    throw new InvalidMessageError(`message is ${body.length} bytes encoded, over the limit of ${limits.maxMessageBytes} bytes`, true);
  }
  return { id: envelope.id, type: envelope.type, body, correlationId: correlationId || undefined };
}

/** A new message encoded for publishing, with the time it was created (ms since the epoch). */
export interface NewWireMessage {
  message: WireMessage;
  occurredAtMs: number;
}

/**
 * What `toWireMessage(createEnvelope(type, payload, id, occurredAt), correlationId)` gives, byte for
 * byte, in one step: the envelope's fixed fields are written around the payload's JSON instead of
 * being built as an object, checked field by field and parsed back (`Date.parse` of the ISO date it
 * just wrote). The hot path of a sender that makes a new message per request. The same checks, the
 * same InvalidMessageError: the type (it is embedded unescaped only because its pattern allows no
 * character JSON would escape), the id, the correlation id, the payload's depth and numbers, the size.
 */
export function encodeNewMessage(
  type: string,
  payload: MessagePayload,
  id: string,
  correlationId?: string,
  limits: WireLimits = DEFAULT_WIRE_LIMITS,
  occurredAt: Date = new Date(),
): NewWireMessage {
  const problem =
    idProblem(id) ??
    typeProblem(type) ??
    (isPlainObject(payload) ? undefined : 'payload must be a JSON object') ??
    correlationIdProblem(correlationId) ??
    payloadProblem(payload, limits.maxPayloadDepth);
  if (problem !== undefined) throw new InvalidMessageError(problem);
  const occurredAtMs = occurredAt.getTime();
  if (Number.isNaN(occurredAtMs)) throw new InvalidMessageError('occurredAt must be a date string');
  let payloadJson: string;
  try {
    payloadJson = JSON.stringify(payload);
  } catch (error) {
    throw new InvalidMessageError(`payload cannot be encoded as JSON: ${(error as Error).message}`);
  }
  const json = `{"id":${JSON.stringify(id)},"type":"${type}","occurredAt":"${occurredAt.toISOString()}","schemaVersion":${CURRENT_SCHEMA_VERSION},"payload":${payloadJson}}`;
  const body = Buffer.from(json);
  if (body.length > limits.maxMessageBytes) {
    throw new InvalidMessageError(`message is ${body.length} bytes encoded, over the limit of ${limits.maxMessageBytes} bytes`, true);
  }
  return { message: { id, type, body, correlationId: correlationId || undefined }, occurredAtMs };
}
