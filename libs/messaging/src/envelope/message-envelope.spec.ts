import {
  createEnvelope,
  CURRENT_SCHEMA_VERSION,
  assertEnvelope,
  InvalidEnvelopeError,
  isPlainObject,
  parseEnvelope,
} from './message-envelope';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function validBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'msg-1',
    type: 'order.created',
    occurredAt: '2024-05-01T12:00:00.000Z',
    schemaVersion: 1,
    payload: { orderId: 42 },
    ...overrides,
  };
}

function reasonOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidEnvelopeError);
    expect((error as InvalidEnvelopeError).name).toBe('InvalidEnvelopeError');
    expect((error as InvalidEnvelopeError).message).toBe((error as InvalidEnvelopeError).reason);
    return (error as InvalidEnvelopeError).reason;
  }
  throw new Error('expected an InvalidEnvelopeError');
}

describe('createEnvelope', () => {
  it('builds the envelope with the given id and time', () => {
    const at = new Date('2024-05-01T12:00:00.000Z');
    expect(createEnvelope('order.created', { a: 1 }, 'id-1', at)).toEqual({
      id: 'id-1',
      type: 'order.created',
      occurredAt: '2024-05-01T12:00:00.000Z',
      schemaVersion: CURRENT_SCHEMA_VERSION,
      payload: { a: 1 },
    });
    expect(CURRENT_SCHEMA_VERSION).toBe(1);
  });

  it('defaults to a fresh UUID and the current time', () => {
    const before = Date.now();
    const first = createEnvelope('t', {});
    const second = createEnvelope('t', {});
    const after = Date.now();
    expect(first.id).toMatch(UUID);
    expect(second.id).not.toBe(first.id);
    const at = Date.parse(first.occurredAt);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
    expect(first.occurredAt).toBe(new Date(at).toISOString());
  });

  it('produces an envelope that assertEnvelope accepts', () => {
    const envelope = createEnvelope('a.b', { nested: { x: [1] } });
    expect(assertEnvelope(JSON.parse(JSON.stringify(envelope)))).toEqual(envelope);
  });
});

describe('isPlainObject', () => {
  it.each([
    [{}, true],
    [{ a: 1 }, true],
    [[], false],
    [null, false],
    ['x', false],
    [1, false],
    [undefined, false],
  ])('%p -> %p', (value, expected) => {
    expect(isPlainObject(value)).toBe(expected);
  });
});

describe('assertEnvelope', () => {
  it('returns a valid envelope as it is', () => {
    const body = validBody();
    expect(assertEnvelope(body)).toBe(body);
  });

  it.each([null, [], 'text', 42, true])('rejects the non-object %p', (body) => {
    expect(reasonOf(() => assertEnvelope(body))).toBe('body is not a JSON object');
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['a number', 7],
    ['201 characters', 'x'.repeat(201)],
  ])('rejects an id that is %s', (_, id) => {
    const body = validBody({ id });
    if (id === undefined) delete body.id;
    expect(reasonOf(() => assertEnvelope(body))).toBe('envelope has no valid id');
  });

  it('accepts an id of 200 characters', () => {
    expect(() => assertEnvelope(validBody({ id: 'x'.repeat(200) }))).not.toThrow();
  });

  it.each([
    ['the # wildcard', 'orders.#'],
    ['the * wildcard', 'orders.*.created'],
    ['129 characters', 'a'.repeat(129)],
    ['empty', ''],
    ['a space', 'order created'],
    ['a slash', 'order/created'],
    ['not a string', 12],
    ['missing', undefined],
  ])('rejects a type with %s', (_, type) => {
    const body = validBody({ type });
    if (type === undefined) delete body.type;
    expect(reasonOf(() => assertEnvelope(body))).toBe('envelope has no valid type');
  });

  it.each(['a'.repeat(128), 'Order_Created-v2.x', '0'])('accepts the type %p', (type) => {
    expect(() => assertEnvelope(validBody({ type }))).not.toThrow();
  });

  it.each([
    [2, 'unsupported schema version 2'],
    [0, 'unsupported schema version 0'],
    ['1', 'unsupported schema version "1"'],
    [undefined, 'unsupported schema version undefined'],
    [null, 'unsupported schema version null'],
  ])('rejects schemaVersion %p', (schemaVersion, reason) => {
    const body = validBody({ schemaVersion });
    if (schemaVersion === undefined) delete body.schemaVersion;
    expect(reasonOf(() => assertEnvelope(body))).toBe(reason);
  });

  it.each([['not a date'], [''], [1714564800000], [undefined]])('rejects occurredAt %p', (occurredAt) => {
    const body = validBody({ occurredAt });
    if (occurredAt === undefined) delete body.occurredAt;
    expect(reasonOf(() => assertEnvelope(body))).toBe('envelope has no valid occurredAt');
  });

  it.each([[null], [[]], ['text'], [1], [undefined]])('rejects payload %p', (payload) => {
    const body = validBody({ payload });
    if (payload === undefined) delete body.payload;
    expect(reasonOf(() => assertEnvelope(body))).toBe('envelope payload is not a JSON object');
  });

  it('accepts an empty payload object', () => {
    expect(() => assertEnvelope(validBody({ payload: {} }))).not.toThrow();
  });
});

describe('parseEnvelope', () => {
  it('parses a valid body from bytes', () => {
    const body = validBody();
    expect(parseEnvelope(Buffer.from(JSON.stringify(body)))).toEqual(body);
  });

  it.each(['', '{', 'not json', '{"id": }'])('rejects the invalid JSON %p', (text) => {
    expect(reasonOf(() => parseEnvelope(Buffer.from(text)))).toBe('body is not valid JSON');
  });

  it.each(['[]', '"text"', '42', 'null'])('rejects the JSON non-object %p', (text) => {
    expect(reasonOf(() => parseEnvelope(Buffer.from(text)))).toBe('body is not a JSON object');
  });

  it('passes on the reason of a structurally bad envelope', () => {
    expect(reasonOf(() => parseEnvelope(Buffer.from(JSON.stringify(validBody({ type: 'a.#' })))))).toBe('envelope has no valid type');
  });
});
