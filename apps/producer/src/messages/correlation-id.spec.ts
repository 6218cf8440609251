import { correlationIdOf } from './correlation-id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

describe('correlationIdOf', () => {
  it('uses X-Correlation-Id when it is valid', () => {
    expect(correlationIdOf({ 'x-correlation-id': 'req-123', traceparent: TRACEPARENT })).toBe('req-123');
  });

  it.each(['a', 'x'.repeat(128), '!~"#{}'])('accepts the correlation id %p', (id) => {
    expect(correlationIdOf({ 'x-correlation-id': id })).toBe(id);
  });

  it('falls back to the traceparent trace id when X-Correlation-Id is invalid', () => {
    for (const bad of ['', 'has space', 'x'.repeat(129), 'caf\u00e9', 'tab\t']) {
      expect(correlationIdOf({ 'x-correlation-id': bad, traceparent: TRACEPARENT })).toBe(TRACE_ID);
    }
  });

  it('ignores a repeated (array) X-Correlation-Id', () => {
    expect(correlationIdOf({ 'x-correlation-id': ['a', 'b'], traceparent: TRACEPARENT })).toBe(TRACE_ID);
  });

  it('takes the trace id from a valid traceparent, tolerating surrounding whitespace', () => {
    expect(correlationIdOf({ traceparent: TRACEPARENT })).toBe(TRACE_ID);
    expect(correlationIdOf({ traceparent: `  ${TRACEPARENT} ` })).toBe(TRACE_ID);
  });

  it.each([
    ['uppercase hex', `00-${TRACE_ID.toUpperCase()}-00f067aa0ba902b7-01`],
    ['a short trace id', `00-${TRACE_ID.slice(1)}-00f067aa0ba902b7-01`],
    ['a short parent id', `00-${TRACE_ID}-00f067aa0ba902b-01`],
    ['missing flags', `00-${TRACE_ID}-00f067aa0ba902b7`],
    ['a bad version', `0-${TRACE_ID}-00f067aa0ba902b7-01`],
    ['non-hex characters', `00-${TRACE_ID.slice(0, 31)}g-00f067aa0ba902b7-01`],
    ['extra fields', `00-${TRACE_ID}-00f067aa0ba902b7-01-ff`],
    ['garbage', 'not a traceparent'],
  ])('generates a new UUID for a traceparent with %s', (_, traceparent) => {
    const id = correlationIdOf({ traceparent });
    expect(id).toMatch(UUID);
    expect(id).not.toContain(TRACE_ID);
  });

  it('ignores a repeated (array) traceparent', () => {
    expect(correlationIdOf({ traceparent: [TRACEPARENT, TRACEPARENT] })).toMatch(UUID);
  });

  it('generates a fresh UUID per request without either header', () => {
    const first = correlationIdOf({});
    const second = correlationIdOf({ 'x-correlation-id': undefined });
    expect(first).toMatch(UUID);
    expect(second).toMatch(UUID);
    expect(first).not.toBe(second);
  });
});
