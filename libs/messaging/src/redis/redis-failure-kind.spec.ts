import { ReplyError } from 'ioredis';
import { redisFailureKind, replyCode } from './redis-failure-kind';

const reply = (message: string) => new ReplyError(message);

describe('redisFailureKind', () => {
  it.each([
    ["OOM command not allowed when used memory > 'maxmemory'. script: abc, on @user_script:7.", 'OOM'],
    ['MISCONF Redis is configured to save RDB snapshots, but it is currently unable to persist to disk.', 'MISCONF'],
    ['NOREPLICAS Not enough good replicas to write.', 'NOREPLICAS'],
    ["READONLY You can't write against a read only replica.", 'READONLY'],
    ['LOADING Redis is loading the dataset in memory', 'LOADING'],
    ['BUSY Redis is busy running a script.', 'BUSY'],
    ['NOPERM User app has no permissions to run the evalsha command', 'NOPERM'],
  ])('names a server refusal by its code: %s', (message, kind) => {
    expect(redisFailureKind(reply(message))).toBe(kind);
  });

  it('calls any other reply error a reply (a script error of ours)', () => {
    expect(redisFailureKind(reply('ERR user_script:3: attempt to compare nil with number'))).toBe('reply');
  });

  it('tells a command timeout from a lost connection', () => {
    expect(redisFailureKind(new Error('Command timed out'))).toBe('timeout');
    expect(redisFailureKind(new Error('Connection is closed.'))).toBe('connection');
    expect(redisFailureKind(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe('connection');
  });
});

describe('replyCode', () => {
  it('is the first word of a reply error, and undefined for anything else', () => {
    expect(replyCode(reply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe('WRONGTYPE');
    expect(replyCode(new Error('READONLY but not a reply'))).toBeUndefined();
    expect(replyCode('READONLY')).toBeUndefined();
  });
});
