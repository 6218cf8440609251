import { InvalidMessageError } from './invalid-message.error';
import { createEnvelope } from './message-envelope';
import { encodeNewMessage, toWireMessage } from './wire-message';

const AT = new Date('2026-12-02T10:11:12.345Z');
const LIMITS = { maxPayloadDepth: 4, maxMessageBytes: 300 };

describe('encodeNewMessage', () => {
  it.each([
    ['a flat payload', { orderId: 42, amount: 99.5 }, undefined],
    ['strings JSON escapes', { note: 'a "quoted" \\ line\nbreak \u2028 ünï', emoji: '😀' }, 'corr-1'],
    ['nested arrays and objects', { a: [1, { b: [true, null, 'x'] }] }, ''],
    ['an empty payload', {}, 'c'],
  ])('writes the bytes toWireMessage(createEnvelope(...)) writes: %s', (_name, payload, correlationId) => {
    const id = 'id-"1"';
    const expected = toWireMessage(createEnvelope('order.created', payload, id, AT), correlationId, LIMITS);
    const { message, occurredAtMs } = encodeNewMessage('order.created', payload, id, correlationId, LIMITS, AT);
    expect(message.body.toString()).toBe(expected.body.toString());
    expect(message).toEqual(expected);
    expect(occurredAtMs).toBe(AT.getTime());
  });

  it.each([
    ['a type with a wildcard', 'order.*', { a: 1 }, 'id', undefined, /message type/],
    ['an empty id', 'order.created', { a: 1 }, '', undefined, /message id/],
    ['an id over 255 bytes of UTF-8', 'order.created', { a: 1 }, 'é'.repeat(130), undefined, /message id/],
    [
      'a payload that is an array',
      'order.created',
      [1] as unknown as Record<string, unknown>,
      'id',
      undefined,
      /payload must be a JSON object/,
    ],
    ['a payload nested too deep', 'order.created', { a: { b: { c: { d: {} } } } }, 'id', undefined, /nested deeper than 4/],
    ['a payload holding NaN', 'order.created', { a: Number.NaN }, 'id', undefined, /NaN/],
    ['a correlation id over 255 bytes', 'order.created', { a: 1 }, 'id', 'x'.repeat(256), /correlation id/],
    ['a BigInt in the payload', 'order.created', { a: 1n }, 'id', undefined, /cannot be encoded as JSON/],
  ])('refuses %s with InvalidMessageError, as toWireMessage does', (_name, type, payload, id, correlationId, reason) => {
    expect(() => encodeNewMessage(type, payload, id, correlationId, LIMITS, AT)).toThrow(InvalidMessageError);
    expect(() => encodeNewMessage(type, payload, id, correlationId, LIMITS, AT)).toThrow(reason);
    expect(() => toWireMessage(createEnvelope(type, payload, id, AT), correlationId, LIMITS)).toThrow(reason);
  });

  it('refuses a message over the size limit as too large', () => {
    const attempt = () => encodeNewMessage('order.created', { text: 'x'.repeat(300) }, 'id', undefined, LIMITS, AT);
    expect(attempt).toThrow(/over the limit of 300 bytes/);
    try {
      attempt();
    } catch (error) {
      expect((error as InvalidMessageError).tooLarge).toBe(true);
    }
  });

  it('stamps the time of the call by default', () => {
    const before = Date.now();
    const { message, occurredAtMs } = encodeNewMessage('order.created', {}, 'id');
    expect(occurredAtMs).toBeGreaterThanOrEqual(before);
    expect(JSON.parse(message.body.toString()).occurredAt).toBe(new Date(occurredAtMs).toISOString());
  });
});
