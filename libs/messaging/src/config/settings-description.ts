import type { MessagingSettings } from './messaging-settings';

/** The settings with every secret (URL passwords, API keys) masked, for the startup log line. */
export function describeSettings(settings: MessagingSettings): Record<string, unknown> {
  return {
    ...settings,
    rabbitmqUrls: settings.rabbitmqUrls.map(maskUrlPassword),
    redisUrl: maskUrlPassword(settings.redisUrl),
    security: { apiKeys: `${settings.security.apiKeys.length} configured`, rateLimitPerMinute: settings.security.rateLimitPerMinute },
  };
}

export function maskUrlPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^/?#]*@/i, '$1***@');
}
