import { ReplyError } from 'ioredis';
import { EFFECT_ERROR_PREFIX, effectReplyOf, RedisEffectError } from './redis-effect-error';

describe('effectReplyOf', () => {
  it('returns the effect command’s own reply from a reply the scripts marked', () => {
    const error = new ReplyError(`${EFFECT_ERROR_PREFIX} WRONGTYPE Operation against a key holding the wrong kind of value`);
    expect(effectReplyOf(error)).toBe('WRONGTYPE Operation against a key holding the wrong kind of value');
  });

  it.each([
    ['a server refusal', new ReplyError("OOM command not allowed when used memory > 'maxmemory'.")],
    ['an unmarked reply error', new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['a connection error that merely mentions the prefix', new Error(`${EFFECT_ERROR_PREFIX} Connection is closed.`)],
    ['the prefix inside a message', new ReplyError(`ERR something ${EFFECT_ERROR_PREFIX} WRONGTYPE`)],
    ['not an error', `${EFFECT_ERROR_PREFIX} WRONGTYPE`],
  ])('returns undefined for %s (an infrastructure failure)', (_, error) => {
    expect(effectReplyOf(error)).toBeUndefined();
  });
});

describe('RedisEffectError', () => {
  it('names the message and the reply', () => {
    const error = new RedisEffectError('m-1', 'WRONGTYPE x');
    expect(error.name).toBe('RedisEffectError');
    expect(error.message).toBe('an effect command of message m-1 failed: WRONGTYPE x');
  });
});
