import { InvalidMessageError } from './invalid-message.error';
import { createEnvelope, parseEnvelope, type MessageEnvelope } from './message-envelope';
import { DEFAULT_WIRE_LIMITS } from './payload-shape';
import { toWireMessage } from './wire-message';

function refusal(action: () => unknown): InvalidMessageError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidMessageError);
    expect((error as InvalidMessageError).name).toBe('InvalidMessageError');
    return error as InvalidMessageError;
  }
  throw new Error('expected an InvalidMessageError');
}

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let level = 1; level < depth; level++) value = { a: value };
  return value;
}

const envelope = (overrides: Partial<MessageEnvelope> | Record<string, unknown> = {}) =>
  ({ ...createEnvelope('order.created', { n: 1 }, 'id-1', new Date('2024-01-01T00:00:00Z')), ...overrides }) as MessageEnvelope;

describe('toWireMessage', () => {
  it('carries id, type, the JSON body and the correlation id', () => {
    const wire = toWireMessage(envelope(), 'corr-1');
    expect(wire.id).toBe('id-1');
    expect(wire.type).toBe('order.created');
    expect(wire.correlationId).toBe('corr-1');
    expect(JSON.parse(wire.body.toString('utf8'))).toEqual(envelope());
  });

  it('leaves the correlation id undefined when none (or an empty one) is given', () => {
    expect(toWireMessage(createEnvelope('t', {})).correlationId).toBeUndefined();
    expect(toWireMessage(createEnvelope('t', {}), '').correlationId).toBeUndefined();
  });

  it('accepts what the consumer parses back unchanged: odd unicode, lone surrogates, big containers', () => {
    const payload = {
      text: 'caf\u00e9 \u{1f600} \u2028 \u0000 \ud800 \udfff',
      ['__proto__']: 'own key',
      list: Array.from({ length: 10_000 }, (_, i) => i),
      map: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, { v: i }])),
      numbers: [0, -0.5, 1e308, 5e-324, 2 ** 53],
    };
    const wire = toWireMessage(envelope({ payload }));
    const back = parseEnvelope(wire.body);
    expect(back.payload).toEqual(JSON.parse(JSON.stringify(payload)));
    expect((back.payload.text as string).includes('\ud800')).toBe(true);
  });

  describe('id, type and correlation id (AMQP short strings)', () => {
    it.each([
      ['empty', ''],
      ['201 characters', 'x'.repeat(201)],
      ['over 255 bytes of UTF-8 in 200 characters', '\u00e9'.repeat(128)],
      ['not a string', 42],
    ])('refuses an id that is %s', (_, id) => {
      expect(refusal(() => toWireMessage(envelope({ id }))).message).toBe(
        'message id must be a string of 1 to 200 characters (at most 255 bytes of UTF-8)',
      );
    });

    it('accepts an id of 200 characters', () => {
      expect(toWireMessage(envelope({ id: 'x'.repeat(200) })).id).toHaveLength(200);
    });

    it.each(['', 'a.#', 'a.*', 'a b', 'x'.repeat(129)])('refuses the type %p', (type) => {
      expect(refusal(() => toWireMessage(envelope({ type }))).message).toBe(
        'message type must be 1 to 128 characters of a-z A-Z 0-9 . _ -',
      );
    });

    it('refuses a correlation id over 255 bytes of UTF-8, accepts one of exactly 255', () => {
      expect(refusal(() => toWireMessage(envelope(), 'x'.repeat(256))).message).toBe(
        'correlation id must be a string of at most 255 bytes of UTF-8',
      );
      expect(refusal(() => toWireMessage(envelope(), '\u00e9'.repeat(128))).tooLarge).toBe(false);
      expect(toWireMessage(envelope(), 'x'.repeat(255)).correlationId).toHaveLength(255);
    });
  });

  describe('the rest of the envelope, as the consumer checks it', () => {
    it.each([
      ['a schema version it does not read', { schemaVersion: 2 }, 'unsupported schema version 2'],
      ['no date', { occurredAt: 'yesterday' }, 'occurredAt must be a date string'],
      ['an array payload', { payload: [1] }, 'payload must be a JSON object'],
      ['a null payload', { payload: null }, 'payload must be a JSON object'],
    ])('refuses %s', (_, overrides, reason) => {
      expect(refusal(() => toWireMessage(envelope(overrides))).message).toBe(reason);
    });

    it('refuses a non-object', () => {
      expect(refusal(() => toWireMessage(null as unknown as MessageEnvelope)).message).toBe('the message must be an envelope object');
    });
  });

  describe('the payload', () => {
    it(`accepts the default depth limit (${DEFAULT_WIRE_LIMITS.maxPayloadDepth}) and refuses one level more`, () => {
      expect(() => toWireMessage(envelope({ payload: nested(64) }))).not.toThrow();
      expect(refusal(() => toWireMessage(envelope({ payload: nested(65) }))).message).toBe(
        'payload is nested deeper than 64 levels (objects and arrays; the payload itself is level 1)',
      );
    });

    it('refuses a payload far deeper than JSON.stringify can encode, without overflowing the stack', () => {
      expect(refusal(() => toWireMessage(envelope({ payload: nested(200_000) }))).message).toMatch(/nested deeper than 64/);
    });

    it('honours a configured depth, up to the largest the setting allows', () => {
      const limits = { ...DEFAULT_WIRE_LIMITS, maxPayloadDepth: 1000 };
      expect(() => toWireMessage(envelope({ payload: nested(1000) }), undefined, limits)).not.toThrow();
      expect(refusal(() => toWireMessage(envelope({ payload: nested(3) }), undefined, { ...limits, maxPayloadDepth: 2 })).message).toMatch(
        /deeper than 2 levels/,
      );
    });

    it.each([Infinity, -Infinity, NaN])('refuses the number %p (JSON would carry null)', (value) => {
      expect(refusal(() => toWireMessage(envelope({ payload: { deep: [{ value }] } }))).message).toMatch(/number JSON cannot carry/);
    });

    it('refuses a cycle and a BigInt, which JSON.stringify cannot encode', () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      expect(refusal(() => toWireMessage(envelope({ payload: cyclic }))).message).toMatch(/nested deeper than/);
      expect(refusal(() => toWireMessage(envelope({ payload: { n: BigInt(1) } }))).message).toMatch(/^payload cannot be encoded as JSON: /);
    });
  });

  describe('the encoded size', () => {
    it('refuses a message over maxMessageBytes as too large, accepts one of exactly that size', () => {
      const exact = toWireMessage(envelope()).body.length;
      const limits = { ...DEFAULT_WIRE_LIMITS, maxMessageBytes: exact };
      expect(toWireMessage(envelope(), undefined, limits).body.length).toBe(exact);
      const error = refusal(() => toWireMessage(envelope({ payload: { n: 10 } }), undefined, limits));
      expect(error.tooLarge).toBe(true);
      expect(error.message).toBe(`message is ${exact + 1} bytes encoded, over the limit of ${exact} bytes`);
    });

    it('counts UTF-8 bytes, not characters', () => {
      const limits = { ...DEFAULT_WIRE_LIMITS, maxMessageBytes: 1000 };
      expect(() => toWireMessage(envelope({ payload: { s: 'a'.repeat(800) } }), undefined, limits)).not.toThrow();
      expect(refusal(() => toWireMessage(envelope({ payload: { s: '\u00e9'.repeat(800) } }), undefined, limits)).tooLarge).toBe(true);
    });
  });
});
