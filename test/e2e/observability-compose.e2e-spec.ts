import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { load } from 'js-yaml';
import { loadMessagingSettings } from '@app/messaging/config';
import { REPO_ROOT } from '../system/support/compose-config';
import { finalStage } from '../system/support/dockerfile';

/**
 * docker-compose.yml's `observability` profile, as the compose CLI resolves it (`docker-compose
 * config`; no Docker engine needed): Prometheus and Grafana start only with the profile, mount the
 * files of deploy/, scrape the apps at the ports they listen on, and Grafana reads that Prometheus.
 */
interface RawService {
  profiles?: string[];
  image?: string;
  volumes?: (string | { source: string; target: string; type: string })[];
  ports?: (string | { target: number; published: number | string; host_ip?: string })[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, unknown> | string[];
}

const OBSERVABILITY = ['prometheus', 'grafana'];

function composeCli(...args: string[]): string {
  return execFileSync('docker-compose', ['--file', resolve(REPO_ROOT, 'docker-compose.yml'), ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** `source:target[:mode]` (v1) or the long form (v2) → container path → host path (absolute), for bind mounts. */
function bindMounts(service: RawService): Record<string, string> {
  const mounts: Record<string, string> = {};
  for (const volume of service.volumes ?? []) {
    if (typeof volume === 'string') {
      const [source, target] = volume.split(':');
      if (source.startsWith('/')) mounts[target] = source;
    } else if (volume.type === 'bind') mounts[volume.target] = volume.source;
  }
  return mounts;
}

const targetPorts = (service: RawService) =>
  (service.ports ?? []).map((port) => (typeof port === 'string' ? Number(port.split('/')[0].split(':').pop()) : Number(port.target)));

let services: Record<string, RawService>;

beforeAll(() => {
  services = (load(composeCli('config')) as { services: Record<string, RawService> }).services;
});

describe('docker-compose.yml, profile observability', () => {
  it('parses (docker-compose config -q), with and without the profile', () => {
    expect(() => composeCli('config', '-q')).not.toThrow();
    expect(() => composeCli('--profile', 'observability', 'config', '-q')).not.toThrow();
  });

  it('holds Prometheus and Grafana in the observability profile only, each with a healthcheck; every other service runs without a profile', () => {
    for (const name of OBSERVABILITY) {
      expect({ name, profiles: services[name]?.profiles, checked: (services[name]?.healthcheck?.test ?? []).length > 0 }).toEqual({
        name,
        profiles: ['observability'],
        checked: true,
      });
    }
    const others = Object.entries(services).filter(([name]) => !OBSERVABILITY.includes(name));
    expect(others.filter(([, service]) => service.profiles !== undefined).map(([name]) => name)).toEqual([]);
  });

  it('mounts deploy/prometheus for Prometheus, whose config scrapes each app on the port its compose settings make it listen on', () => {
    const mounts = bindMounts(services.prometheus);
    expect(mounts['/etc/prometheus']).toBe(resolve(REPO_ROOT, 'deploy', 'prometheus'));
    const config = load(readFileSync(resolve(mounts['/etc/prometheus'], 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    expect(config.rule_files.every((file) => existsSync(resolve(mounts['/etc/prometheus'], file)))).toBe(true);
    const image = finalStage(resolve(REPO_ROOT, 'Dockerfile'));
    const ports = {
      producer: loadMessagingSettings({ ...image.env, ...services.producer.environment }).producerPort,
      consumer: loadMessagingSettings({ ...image.env, ...services.consumer.environment }).consumerPort,
    };
    const targets = Object.fromEntries(config.scrape_configs.map((job) => [job.job_name, job.static_configs.flatMap((c) => c.targets)]));
    expect(targets).toEqual({ producer: [`producer:${ports.producer}`], consumer: [`consumer:${ports.consumer}`] });
    expect(targetPorts(services.prometheus)).toEqual([9090]);
  });

  it('mounts deploy/grafana for Grafana: the provisioning, and the dashboards where the provider looks; its datasource is the Prometheus service', () => {
    const mounts = bindMounts(services.grafana);
    expect(mounts['/etc/grafana/provisioning']).toBe(resolve(REPO_ROOT, 'deploy', 'grafana', 'provisioning'));
    expect(mounts['/var/lib/grafana/dashboards']).toBe(resolve(REPO_ROOT, 'deploy', 'grafana', 'dashboards'));
    const home = services.grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    expect(existsSync(home.replace('/var/lib/grafana/dashboards', mounts['/var/lib/grafana/dashboards']))).toBe(true);
    const datasource = (
      load(readFileSync(resolve(mounts['/etc/grafana/provisioning'], 'datasources', 'prometheus.yml'), 'utf8')) as {
        datasources: { url: string }[];
      }
    ).datasources[0];
    const url = new URL(datasource.url);
    expect(Object.keys(services)).toContain(url.hostname);
    expect(targetPorts(services[url.hostname])).toContain(Number(url.port));
    expect(Object.keys(services.grafana.depends_on ?? {})).toEqual(['prometheus']);
  });
});
