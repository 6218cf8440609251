import { loadMessagingSettings } from './load-settings';
import { describeSettings, maskUrlPassword } from './settings-description';

describe('maskUrlPassword', () => {
  it.each([
    ['amqp://guest:guest@localhost:5672', 'amqp://guest:***@localhost:5672'],
    ['amqps://user:s3cr3t-Pa55@rabbit:5671/vhost', 'amqps://user:***@rabbit:5671/vhost'],
    ['redis://:hunter2@redis:6379/0', 'redis://:***@redis:6379/0'],
    ['rediss://default:p%40ss%2Fword@redis:6380', 'rediss://default:***@redis:6380'],
    ['rediss://acl-user:p@ss:w@rd@127.0.0.1:6380/4', 'rediss://acl-user:***@127.0.0.1:6380/4'],
    ['rediss://:only-a-password@redis:6380/0', 'rediss://:***@redis:6380/0'],
    ['amqps://app:s3cret@rabbit:5671/vh?heartbeat=5', 'amqps://app:***@rabbit:5671/vh?heartbeat=5'],
    ['redis+sentinel://app:secret@s1:26379,s2:26379/primary/1', 'redis+sentinel://app:***@s1:26379,s2:26379/primary/1'],
  ])('masks the password of %p', (url, masked) => {
    expect(maskUrlPassword(url)).toBe(masked);
  });

  it.each(['amqp://localhost:5672', 'redis://user@redis:6379', 'redis://redis:6379/2'])('leaves %p without a password unchanged', (url) => {
    expect(maskUrlPassword(url)).toBe(url);
  });
});

describe('describeSettings', () => {
  const rabbitSecret = 'rabbit-S3cret-pass';
  const rabbitSecret2 = 'second-rabbit-secret';
  const redisSecret = 'redis-S3cret-pass';
  const apiKey1 = 'api-key-0000-1111-2222';
  const apiKey2 = 'api-key-3333-4444-5555';

  const settings = loadMessagingSettings({
    RABBITMQ_URL: `amqp://app:${rabbitSecret}@rabbit-1:5672,amqps://app:${rabbitSecret2}@rabbit-2:5671`,
    REDIS_URL: `redis://default:${redisSecret}@redis:6379/1`,
    API_KEYS: `${apiKey1},${apiKey2}`,
  });

  it('never contains a URL password or an API key', () => {
    const serialized = JSON.stringify(describeSettings(settings));
    for (const secret of [rabbitSecret, rabbitSecret2, redisSecret, apiKey1, apiKey2]) {
      expect(serialized).not.toContain(secret);
    }
  });

  it('keeps the hosts, the key count and the other settings', () => {
    const described = describeSettings(settings);
    expect(described.rabbitmqUrls).toEqual(['amqp://app:***@rabbit-1:5672', 'amqps://app:***@rabbit-2:5671']);
    expect(described.redisUrl).toBe('redis://default:***@redis:6379/1');
    expect(described.security).toEqual({ apiKeys: '2 configured', rateLimitPerMinute: 0 });
    expect(described.outbox).toEqual(settings.outbox);
    expect(described.names).toEqual(settings.names);
  });

  it('masks every node of a cluster list and a rediss:// URL of an ACL user, passwords with @ and : included', () => {
    const secrets = ['n0de-1:p@ss', 'node-2-secret', 'n0de-3@secret', 'acl:p@ss-w0rd'];
    const tls = loadMessagingSettings({
      RABBITMQ_URL: `amqps://app:${secrets[0]}@rabbit-1:5671/vh,amqp://app:${secrets[1]}@rabbit-2:5672/vh, amqps://app:${secrets[2]}@rabbit-3/vh`,
      REDIS_URL: `rediss://messaging-app:${secrets[3]}@redis.internal:6380/2`,
    });
    const described = describeSettings(tls);
    expect(described.rabbitmqUrls).toEqual([
      'amqps://app:***@rabbit-1:5671/vh',
      'amqp://app:***@rabbit-2:5672/vh',
      'amqps://app:***@rabbit-3/vh',
    ]);
    expect(described.redisUrl).toBe('rediss://messaging-app:***@redis.internal:6380/2');
    const line = JSON.stringify({ settings: described });
    for (const secret of secrets) expect(line).not.toContain(secret);
    for (const part of ['p@ss', 'secret', 'w0rd']) expect(line).not.toContain(part);
  });

  it('does not modify the settings it describes', () => {
    describeSettings(settings);
    expect(settings.rabbitmqUrls[0]).toContain(rabbitSecret);
    expect(settings.security.apiKeys).toEqual([apiKey1, apiKey2]);
  });
});
