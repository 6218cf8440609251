import { createHash } from 'node:crypto';

/** 1 to 200 printable ASCII characters, as the contract says. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7e]{1,200}$/;

/**
 * The message id for a client's Idempotency-Key: the same (scope, key) always gives the same id, so a
 * client that retries a request produces a duplicate that the consumer's guard absorbs. The scope
 * (the caller's API key identity) keeps one client from suppressing another's messages.
 * The id is a name-based UUID (version 5 layout, SHA-256 digest) so it looks like every other id.
 */
export function messageIdForIdempotencyKey(key: string, scope = ''): string {
  const digest = createHash('sha256').update(`${scope}\u0000${key}`).digest();
  digest[6] = (digest[6] & 0x0f) | 0x50;
  digest[8] = (digest[8] & 0x3f) | 0x80;
  const hex = digest.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
