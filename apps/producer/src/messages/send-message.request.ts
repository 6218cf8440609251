import { IDEMPOTENCY_KEY_PATTERN, isPlainObject, MESSAGE_TYPE_PATTERN, type MessagePayload } from '@app/messaging/envelope';

export interface SendMessageRequest {
  type: string;
  payload: MessagePayload;
}

/** A request that is not a message this service can accept; the reason goes back in the 400 body. */
export class InvalidRequestError extends Error {}

export function parseSendMessageRequest(body: unknown): SendMessageRequest {
  if (!isPlainObject(body)) throw new InvalidRequestError('body must be a JSON object with "type" and "payload"');
  const { type, payload } = body;
  if (typeof type !== 'string' || !MESSAGE_TYPE_PATTERN.test(type)) {
    throw new InvalidRequestError('"type" must be 1 to 128 characters of a-z A-Z 0-9 . _ -');
  }
  if (!isPlainObject(payload)) throw new InvalidRequestError('"payload" must be a JSON object');
  return { type, payload };
}

export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(header)) {
    throw new InvalidRequestError('Idempotency-Key must be 1 to 200 printable ASCII characters');
  }
  return header;
}
