/**
 * A setting the process cannot start with. The message is the one line the process prints before it
 * exits: it names the variable to change first and, for settings that contradict each other, the
 * others involved (also listed in `related`).
 */
export class InvalidConfigurationError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
    readonly related: readonly string[] = [],
  ) {
    super(`Invalid configuration: ${variable} ${reason}`);
    this.name = 'InvalidConfigurationError';
  }
}
