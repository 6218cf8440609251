import { InvalidConfigurationError } from './invalid-configuration.error';
import { messagingEnvSchema, toSettings, type MessagingSettings } from './messaging-settings';
import { assertConsistentSettings } from './settings-consistency';

/**
 * Parses and validates the environment, then checks that the settings do not contradict each other
 * (settings-consistency.ts); throws one error naming the first bad variable (and, for a
 * contradiction, the others involved).
 */
export function loadMessagingSettings(env: NodeJS.ProcessEnv = process.env): MessagingSettings {
  const input = Object.fromEntries(
    Object.keys(messagingEnvSchema.shape)
      .filter((key) => env[key] !== undefined && env[key] !== '')
      .map((key) => [key, env[key]]),
  );
  const result = messagingEnvSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new InvalidConfigurationError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  const settings = toSettings(result.data);
  assertConsistentSettings(settings);
  return settings;
}
