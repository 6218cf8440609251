/**
 * The guard stopped waiting and the delivery must go back to the broker (nack with requeue), without
 * counting an attempt: nothing about the message failed. The failure router hands back every error of
 * this family; the subclasses say why.
 */
export class GuardStoppedError extends Error {
  constructor(
    readonly messageId: string,
    reason = 'shutting down',
  ) {
    super(`stopped waiting for Redis for message ${messageId}: ${reason}`);
    this.name = 'GuardStoppedError';
  }
}

/**
 * The delivery was held for as long as the broker allows (a share of its consumer_timeout): it is
 * handed back before the broker closes the channel, and the next delivery of it tries again.
 */
export class GuardHoldExpiredError extends GuardStoppedError {
  constructor(
    messageId: string,
    readonly heldMs: number,
  ) {
    super(messageId, `held ${heldMs} ms, the most the broker's consumer_timeout allows`);
    this.name = 'GuardHoldExpiredError';
  }
}

/**
 * An exclusive run lost its lock (it expired while Redis could not renew it) and another delivery of
 * the id holds it now: this run must not commit. Its delivery goes back and, once the other run has
 * written the done mark, is acknowledged as a duplicate.
 */
export class GuardLockLostError extends GuardStoppedError {
  constructor(messageId: string) {
    super(messageId, 'its lock expired and another delivery holds it');
    this.name = 'GuardLockLostError';
  }
}
