import { InvalidRedisUrlError, parseRedisUrl } from './redis-url';

describe('parseRedisUrl', () => {
  it('passes a plain redis:// or rediss:// URL through as one server', () => {
    expect(parseRedisUrl('redis://localhost:6379/2')).toEqual({ kind: 'standalone', url: 'redis://localhost:6379/2' });
    expect(parseRedisUrl('rediss://:pw@redis:6380')).toEqual({ kind: 'standalone', url: 'rediss://:pw@redis:6380' });
  });

  it('reads the Sentinels, the master name and the database of a redis+sentinel:// URL', () => {
    expect(parseRedisUrl('redis+sentinel://s1:26379,s2:26380,10.0.0.3:26381/mymaster/3')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
        { host: '10.0.0.3', port: 26381 },
      ],
      masterName: 'mymaster',
      db: 3,
      username: undefined,
      password: undefined,
    });
  });

  it('defaults the database to 0 and a Sentinel port to 26379, and reads IPv6 hosts', () => {
    expect(parseRedisUrl('redis+sentinel://[::1]:5000,sentinel-b/primary')).toMatchObject({
      sentinels: [
        { host: '::1', port: 5000 },
        { host: 'sentinel-b', port: 26379 },
      ],
      masterName: 'primary',
      db: 0,
    });
  });

  it("takes the credentials as the data nodes' (user and password, or a password alone), percent-decoded", () => {
    expect(parseRedisUrl('redis+sentinel://app:s%2Fcr%40t@s1:1/m')).toMatchObject({ username: 'app', password: 's/cr@t' });
    expect(parseRedisUrl('redis+sentinel://:only-pw@s1:1/m/1')).toMatchObject({ username: undefined, password: 'only-pw', db: 1 });
  });

  it.each([
    ['no master name', 'redis+sentinel://s1:26379'],
    ['an empty master name', 'redis+sentinel://s1:26379/'],
    ['a bad database', 'redis+sentinel://s1:26379/m/x'],
    ['a path past the database', 'redis+sentinel://s1:26379/m/1/extra'],
    ['a bad port', 'redis+sentinel://s1:99999/m'],
    ['an empty host', 'redis+sentinel://s1:1,,s3:1/m'],
    ['a bad master name', 'redis+sentinel://s1:1/my master'],
    ['bad percent-encoding', 'redis+sentinel://u:%E0%A4%A@s1:1/m'],
  ])('refuses %s, without repeating the URL', (_, url) => {
    expect(() => parseRedisUrl(url)).toThrow(InvalidRedisUrlError);
    try {
      parseRedisUrl(url);
    } catch (error) {
      expect((error as Error).message).not.toContain('s1');
    }
  });
});
