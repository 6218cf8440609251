/** Why a send to the broker did not end in a confirm. Each one sends the message to the outbox. */
export class PublishFailedError extends Error {
  constructor(
    readonly kind: 'not-connected' | 'nacked' | 'returned' | 'timeout' | 'channel-closed',
    readonly messageId: string,
    detail?: string,
  ) {
    super(`message ${messageId} not confirmed: ${kind}${detail ? ` (${detail})` : ''}`);
    this.name = 'PublishFailedError';
  }
}

/** Neither the broker nor the outbox took the message: the caller must be told it was not accepted. */
export class MessageNotAcceptedError extends Error {
  constructor(
    readonly messageId: string,
    readonly brokerError: string,
    readonly outboxError: string,
  ) {
    super(`message ${messageId} not accepted: broker: ${brokerError}; outbox: ${outboxError}`);
    this.name = 'MessageNotAcceptedError';
  }
}
