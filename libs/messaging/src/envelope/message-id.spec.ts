import { createHash } from 'node:crypto';
import { IDEMPOTENCY_KEY_PATTERN, messageIdForIdempotencyKey } from './message-id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('messageIdForIdempotencyKey', () => {
  it('is deterministic for the same key and scope', () => {
    expect(messageIdForIdempotencyKey('order-1', 'client-a')).toBe(messageIdForIdempotencyKey('order-1', 'client-a'));
    expect(messageIdForIdempotencyKey('order-1')).toBe(messageIdForIdempotencyKey('order-1', ''));
  });

  it('depends on the scope', () => {
    const ids = new Set(['', 'client-a', 'client-b'].map((scope) => messageIdForIdempotencyKey('order-1', scope)));
    expect(ids.size).toBe(3);
  });

  it('depends on the key', () => {
    expect(messageIdForIdempotencyKey('order-1', 's')).not.toBe(messageIdForIdempotencyKey('order-2', 's'));
  });

  it('does not confuse the scope/key boundary', () => {
    expect(messageIdForIdempotencyKey('bc', 'a')).not.toBe(messageIdForIdempotencyKey('c', 'ab'));
  });

  it('is UUID-shaped with version nibble 5 and an RFC 4122 variant', () => {
    for (let i = 0; i < 200; i++) {
      const id = messageIdForIdempotencyKey(`key-${i}`, `scope-${i % 7}`);
      expect(id).toMatch(UUID);
      expect(id[14]).toBe('5');
      expect(['8', '9', 'a', 'b']).toContain(id[19]);
    }
  });

  it('is a known value (the digest is stable across releases)', () => {
    // sha256("scope\0key") truncated to 16 bytes with the version/variant bits set.
    const digest = createHash('sha256').update('scope\u0000key').digest('hex').slice(0, 32).split('');
    digest[12] = '5';
    digest[16] = ((parseInt(digest[16], 16) & 0x3) | 0x8).toString(16);
    const hex = digest.join('');
    expect(messageIdForIdempotencyKey('key', 'scope')).toBe(
      `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    );
  });
});

describe('IDEMPOTENCY_KEY_PATTERN', () => {
  it.each(['a', ' ', '~', 'x'.repeat(200), 'order 42 / retry #1'])('accepts %p', (key) => {
    expect(IDEMPOTENCY_KEY_PATTERN.test(key)).toBe(true);
  });

  it.each(['', 'x'.repeat(201), 'tab\there', 'new\nline', 'caf\u00e9', '\u007f'])('rejects %p', (key) => {
    expect(IDEMPOTENCY_KEY_PATTERN.test(key)).toBe(false);
  });
});
