import { ReplyError } from 'ioredis';

/**
 * Prefix the guard's scripts put on an error reply that one of the handler's own RedisEffect commands
 * gave (WRONGTYPE from its XADD, an unknown command). Every other error of the guard's Redis calls is
 * an infrastructure failure; this one belongs to the handler.
 */
export const EFFECT_ERROR_PREFIX = 'EFFECTFAILED';

/**
 * One of the handler's RedisEffect commands was refused for a reason of its own (a wrong type, a bad
 * command). It counts as a failure of the handler: retried, and dead-lettered when it keeps failing.
 */
export class RedisEffectError extends Error {
  constructor(
    readonly messageId: string,
    readonly reply: string,
  ) {
    super(`an effect command of message ${messageId} failed: ${reply}`);
    this.name = 'RedisEffectError';
  }
}

/** The reply of an effect command, when `error` is one the scripts marked as such; undefined otherwise. */
export function effectReplyOf(error: unknown): string | undefined {
  if (!(error instanceof ReplyError)) return undefined;
  const prefix = `${EFFECT_ERROR_PREFIX} `;
  const { message } = error as Error;
  return message.startsWith(prefix) ? message.slice(prefix.length) : undefined;
}
