import { InvalidSelectionError, isMessageId, parseMessageSelection } from './message-selection';

function reasonOf(body: unknown): string {
  try {
    parseMessageSelection(body);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidSelectionError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(body)} to be refused`);
}

const SHAPE = 'the body must be {"ids": ["<message id>", ...]} or {"all": true}';
const IDS_RULE = '"ids" must be a list of 1 to 1000 message ids, each a string of 1 to 200 characters';

describe('parseMessageSelection', () => {
  it('reads {"all": true} as every message', () => {
    expect(parseMessageSelection({ all: true })).toEqual({ all: true });
  });

  it('reads a list of ids, without repeats', () => {
    expect(parseMessageSelection({ ids: ['a', 'b', 'a'] })).toEqual({ ids: ['a', 'b'] });
    expect(parseMessageSelection({ ids: ['x'.repeat(200)] })).toEqual({ ids: ['x'.repeat(200)] });
  });

  it.each([undefined, null, [], 'all', 1, true])('refuses the body %p', (body) => {
    expect(reasonOf(body)).toBe(SHAPE);
  });

  it('refuses an empty object: "all" must be said', () => {
    expect(reasonOf({})).toBe(SHAPE);
  });

  it.each([
    [{ ids: [1] }],
    [{ ids: ['a', 2] }],
    [{ ids: [''] }],
    [{ ids: ['x'.repeat(201)] }],
    [{ ids: [null] }],
    [{ ids: [['a']] }],
    [{ ids: 'a' }],
    [{ ids: { 0: 'a' } }],
    [{ ids: null }],
    [{ ids: Array.from({ length: 1001 }, (_, i) => `id-${i}`) }],
  ])('refuses the malformed filter %j, never reading it as "all"', (body) => {
    expect(reasonOf(body)).toBe(IDS_RULE);
  });

  it('refuses an empty list', () => {
    expect(reasonOf({ ids: [] })).toBe('"ids" is empty: name at least one message id, or send {"all": true}');
  });

  it.each([[{ all: false }], [{ all: 'true' }], [{ all: 1 }], [{ all: null }]])('refuses %j: only true selects all', (body) => {
    expect(reasonOf(body)).toBe('"all" must be true (to select every message); to select some, send {"ids": [...]}');
  });

  it('refuses both at once, and unknown fields', () => {
    expect(reasonOf({ ids: ['a'], all: true })).toBe(`give "ids" or "all", not both: ${SHAPE}`);
    expect(reasonOf({ ids: ['a'], limit: 5 })).toBe(`unknown field "limit": ${SHAPE}`);
    expect(reasonOf({ id: 'a' })).toBe(`unknown field "id": ${SHAPE}`);
    expect(reasonOf(JSON.parse('{"__proto__": {"all": true}}'))).toBe(`unknown field "__proto__": ${SHAPE}`);
  });
});

describe('isMessageId', () => {
  it.each([
    ['a', true],
    ['x'.repeat(200), true],
    ['', false],
    ['x'.repeat(201), false],
    [5, false],
    [undefined, false],
  ])('%p -> %p', (value, expected) => {
    expect(isMessageId(value)).toBe(expected);
  });
});
