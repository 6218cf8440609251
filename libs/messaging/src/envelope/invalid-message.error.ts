/**
 * A message publish() refuses before it touches a channel or the outbox: it could not be sent as it
 * is (an id, type or correlation id AMQP cannot carry, a payload JSON cannot carry) or it is larger
 * than the broker or the confirm window takes (`tooLarge`). Nothing of it was published or stored.
 * Callers answer it as the client's error (400, or 413 when too large), never as a failure to retry.
 */
export class InvalidMessageError extends Error {
  constructor(
    readonly reason: string,
    readonly tooLarge = false,
  ) {
    super(reason);
    this.name = 'InvalidMessageError';
  }
}
