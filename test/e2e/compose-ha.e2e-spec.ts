import { loadMessagingSettings } from '@app/messaging/config';
import { composeConfig } from '../system/support/compose-config';

/**
 * docker-compose.ha.yml, parsed by the compose CLI as a user's `docker compose -f … up` would: three
 * clustered RabbitMQ nodes, a Redis primary and replica under three Sentinels, and both apps
 * configured for them with settings the apps accept at start.
 */
describe('docker-compose.ha.yml', () => {
  const compose = composeConfig(process.env, 'docker-compose.ha.yml');

  it('runs three RabbitMQ nodes, two Redis data nodes and three Sentinels, each with a healthcheck', () => {
    const names = Object.keys(compose.services).sort();
    expect(names).toEqual(
      ['consumer', 'producer', 'rabbit-1', 'rabbit-2', 'rabbit-3', 'redis-1', 'redis-2', 'sentinel-1', 'sentinel-2', 'sentinel-3'].sort(),
    );
    for (const service of Object.values(compose.services))
      expect({ [service.name]: service.healthcheck !== undefined }).toEqual({ [service.name]: true });
    expect(compose.services['redis-2'].command).toEqual(expect.arrayContaining(['--replicaof', 'redis-1', '6379']));
  });

  it.each(['producer', 'consumer'])('configures the %s for every node and the Sentinels, with settings it accepts', (app) => {
    const { environment, dependsOn } = compose.services[app];
    const settings = loadMessagingSettings(environment);
    expect(settings.rabbitmqUrls.map((url) => new URL(url).hostname)).toEqual(['rabbit-1', 'rabbit-2', 'rabbit-3']);
    expect(settings.redisUrl.startsWith('redis+sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/')).toBe(true);
    expect(settings.redis.minReplicaAcks).toBe(1);
    expect(dependsOn).toEqual(expect.arrayContaining(['rabbit-1', 'rabbit-2', 'rabbit-3', 'sentinel-1', 'sentinel-2', 'sentinel-3']));
  });
});
