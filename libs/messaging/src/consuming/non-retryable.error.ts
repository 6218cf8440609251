/** Marks the errors a handler throws when trying again cannot help (found across copies of the library too). */
const NON_RETRYABLE = Symbol.for('@app/messaging.non-retryable');

/**
 * Thrown by a handler for a failure that no retry can mend (a referenced record that does not exist,
 * a rule the message breaks): the message goes to its subscription's DLQ at once, with this error's
 * message as the reason, and no attempt is retried. Its work is not marked done.
 */
export class NonRetryableError extends Error {
  readonly [NON_RETRYABLE] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

export function isNonRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[NON_RETRYABLE] === true;
}
