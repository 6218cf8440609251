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

/**
 * For `bootstrap().catch(exitOnStartFailure)`: a start that failed on its configuration (a subscription
 * declared in code with a bad field, say) ends with one line naming it and exit code 1, like a bad
 * variable; anything else with its stack, and exit code 1 too.
 */
export function exitOnStartFailure(error: unknown): never {
  if (error instanceof InvalidConfigurationError) process.stderr.write(`${error.message}\n`);
  else process.stderr.write(`Start failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}
