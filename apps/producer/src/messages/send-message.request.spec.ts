// The '@app/messaging' barrel also loads the health module, whose @nestjs/terminus is ESM-only and cannot
// be required inside Jest on Node 20; the names this file uses all live in the envelope module.
jest.mock('@app/messaging', () => jest.requireActual('@app/messaging/envelope'));

import { InvalidRequestError, parseIdempotencyKey, parseSendMessageRequest } from './send-message.request';

function rejection(action: () => unknown): InvalidRequestError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    return error as InvalidRequestError;
  }
  throw new Error('expected an InvalidRequestError');
}

describe('parseSendMessageRequest', () => {
  it('accepts a type and an object payload, and returns only those', () => {
    expect(parseSendMessageRequest({ type: 'order.created', payload: { id: 1, nested: { a: [1] } }, extra: 'ignored' })).toEqual({
      type: 'order.created',
      payload: { id: 1, nested: { a: [1] } },
    });
  });

  it.each(['a', 'a'.repeat(128), 'Order_Created-v2.x'])('accepts the type %p', (type) => {
    expect(parseSendMessageRequest({ type, payload: {} }).type).toBe(type);
  });

  it('accepts an empty payload object', () => {
    expect(parseSendMessageRequest({ type: 't', payload: {} }).payload).toEqual({});
  });

  it.each([null, undefined, [], 'text', 42, true])('rejects the body %p', (body) => {
    expect(rejection(() => parseSendMessageRequest(body)).message).toBe('body must be a JSON object with "type" and "payload"');
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['129 characters', 'a'.repeat(129)],
    ['the # wildcard', 'orders.#'],
    ['the * wildcard', 'orders.*'],
    ['a space', 'order created'],
    ['non-ASCII', 'bestellung.erstellt\u00e9'],
    ['a number', 5],
  ])('rejects a type that is %s', (_, type) => {
    const body: Record<string, unknown> = { payload: {} };
    if (type !== undefined) body.type = type;
    expect(rejection(() => parseSendMessageRequest(body)).message).toBe('"type" must be 1 to 128 characters of a-z A-Z 0-9 . _ -');
  });

  it.each([
    ['missing', undefined],
    ['null', null],
    ['an array', [1]],
    ['a string', '{}'],
    ['a number', 3],
  ])('rejects a payload that is %s', (_, payload) => {
    const body: Record<string, unknown> = { type: 't' };
    if (payload !== undefined) body.payload = payload;
    expect(rejection(() => parseSendMessageRequest(body)).message).toBe('"payload" must be a JSON object');
  });
});

describe('parseIdempotencyKey', () => {
  it('is undefined without the header', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
  });

  it.each(['k', 'order-42', 'x'.repeat(200), 'with spaces and ~!@#'])('accepts %p unchanged', (key) => {
    expect(parseIdempotencyKey(key)).toBe(key);
  });

  it.each([[''], ['x'.repeat(201)], ['tab\tkey'], ['line\nbreak'], ['caf\u00e9'], [['a', 'b']], [['only-one']]])('rejects %p', (header) => {
    expect(rejection(() => parseIdempotencyKey(header)).message).toBe('Idempotency-Key must be 1 to 200 printable ASCII characters');
  });
});
