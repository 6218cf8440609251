import { deadLetterKeyOf, deadLetterRecordOf, reasonPattern } from './dead-letter-record';

const ID = '3f2a9c1e-0b7d-4e51-9a2c-6d8e1f0a4b2c';

describe('deadLetterRecordOf', () => {
  it('reads our failure headers', () => {
    const record = deadLetterRecordOf(
      {
        messageId: ID,
        type: 'order.created',
        headers: {
          'x-correlation-id': 'order-42',
          'x-failure-kind': 'exhausted',
          'x-failure-reason': `handler failed 5 time(s), last: message ${ID} failed: WRONGTYPE script: 7fd40088c53447a0bce9856282223db0ad07615e`,
          'x-failed-at': '2026-12-02T07:00:00.000Z',
          'x-failed-attempts': 5,
        },
      },
      Buffer.from('{"id":"x"}'),
    );
    expect(record).toMatchObject({
      key: ID,
      messageId: ID,
      type: 'order.created',
      correlationId: 'order-42',
      kind: 'exhausted',
      groupReason: 'handler failed 5 time(s), last: message <id> failed: WRONGTYPE script: <hex>',
      failedAtMs: Date.parse('2026-12-02T07:00:00.000Z'),
      attempts: 5,
      body: '{"id":"x"}',
    });
  });

  it("reads the broker's own dead-lettering (x-death) when ours is absent", () => {
    const record = deadLetterRecordOf(
      {
        messageId: ID,
        type: 't',
        headers: { 'x-death': [{ reason: 'delivery_limit', count: 1, time: { '!': 'timestamp', value: 1_796_000_000 } }] },
      },
      Buffer.from('{}'),
    );
    expect(record).toMatchObject({
      kind: 'delivery_limit',
      reason: 'dead-lettered by the broker: delivery_limit',
      failedAtMs: 1_796_000_000_000,
    });
  });

  it('groups the same failure of different messages together', () => {
    const a = deadLetterRecordOf(
      { messageId: 'a-1', type: 't', headers: { 'x-failure-kind': 'exhausted', 'x-failure-reason': 'message a-1 failed' } },
      Buffer.from(''),
    );
    const b = deadLetterRecordOf(
      { messageId: 'b-2', type: 't', headers: { 'x-failure-kind': 'exhausted', 'x-failure-reason': 'message b-2 failed' } },
      Buffer.from(''),
    );
    const other = deadLetterRecordOf(
      { messageId: 'c', type: 'u', headers: { 'x-failure-kind': 'exhausted', 'x-failure-reason': 'message c failed' } },
      Buffer.from(''),
    );
    expect(a.group).toBe(b.group);
    expect(other.group).not.toBe(a.group);
  });

  it('keys a message without an id by a digest of its body', () => {
    expect(deadLetterKeyOf(undefined, Buffer.from('x'))).toMatch(/^~[0-9a-f]{24}$/);
    expect(deadLetterKeyOf('', Buffer.from('x'))).toBe(deadLetterKeyOf(undefined, Buffer.from('x')));
    expect(reasonPattern(`uuid ${ID}`)).toBe('uuid <uuid>');
  });
});
