import { InvalidConfigurationError, loadMessagingSettings, type MessagingSettings } from '@app/messaging/config';

/** Reads the settings; a bad one stops the process with one line naming the variable. */
export function loadSettingsOrExit(env: NodeJS.ProcessEnv = process.env): MessagingSettings {
  try {
    return loadMessagingSettings(env);
  } catch (error) {
    const line = error instanceof InvalidConfigurationError ? error.message : `Invalid configuration: ${(error as Error).message}`;
    process.stderr.write(`${line}\n`);
    process.exit(1);
  }
}
