import type { ComposeFile, ComposeService } from './compose-config';

/**
 * Where compose's service hostnames lead when the apps run on this machine instead of in compose's
 * network: a URL naming the `rabbitmq` (amqp://) or `redis` (redis://) service is replaced by the
 * URL of the same kind that `broker` / `redis` give (a vhost and Redis db of the test's own, behind
 * its fault proxies). Published container ports become the host ports in `ports` (variable → port).
 * An http:// URL naming an app service (the console's CONSOLE_PEER_URL) leads to where `apps` says
 * that app listens here, with the URL's path kept.
 */
export interface HostMapping {
  broker: () => string;
  redis: () => string;
  ports: Record<string, number>;
  /** Compose service name → its base URL on this machine (http://127.0.0.1:<port>). */
  apps?: Record<string, string>;
}

/** The environment of `service` as compose sets it, with compose hostnames and ports mapped. */
export function hostEnvironment(compose: ComposeFile, service: ComposeService, mapping: HostMapping): Record<string, string> {
  const hostnames = new Set(Object.keys(compose.services));
  const mapUrl = (variable: string, url: string): string => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return url;
    }
    if (!hostnames.has(parsed.hostname)) return url;
    if (/^amqps?:$/.test(parsed.protocol)) return mapping.broker();
    if (/^(rediss?|redis\+sentinel):$/.test(parsed.protocol)) return mapping.redis();
    const app = mapping.apps?.[parsed.hostname];
    if (/^https?:$/.test(parsed.protocol) && app !== undefined) return `${app}${parsed.pathname === '/' ? '' : parsed.pathname}`;
    throw new Error(`${service.name}: ${variable} names the compose service ${parsed.hostname} by a URL this test cannot map: ${url}`);
  };
  for (const variable of Object.keys(mapping.ports)) {
    if (service.environment[variable] === undefined)
      throw new Error(`${service.name}: compose sets no ${variable}, so its port cannot be mapped`);
  }
  const environment: Record<string, string> = {};
  for (const [variable, value] of Object.entries(service.environment)) {
    if (mapping.ports[variable] !== undefined) environment[variable] = String(mapping.ports[variable]);
    else {
      // A list of URLs (a cluster) maps to one URL: this machine has one node of each service.
      const urls = value.split(',').map((url) => mapUrl(variable, url.trim()));
      environment[variable] = urls.every((url) => url === urls[0]) ? urls[0] : urls.join(',');
    }
  }
  return environment;
}
