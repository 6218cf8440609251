/**
 * Why a send to the broker did not end in a confirm. Each one sends the message to the outbox.
 *  - not-connected: no open publisher channel (broker down, channel reopening, shut down); never sent.
 *  - blocked: the broker blocks the connection (a memory or disk alarm); never sent.
 *  - backpressure: PUBLISH_MAX_IN_FLIGHT or PUBLISH_MAX_IN_FLIGHT_BYTES reached; never sent.
 *  - timeout: no confirm within PUBLISH_CONFIRM_TIMEOUT_MS; the broker may still have it.
 *  - channel-closed: the channel went with the confirm outstanding; the broker may still have it.
 *  - nacked: the broker refused the message.
 *  - returned: the message was unroutable (mandatory) and came back.
 *  - unpublishable: the client could not encode the message (e.g. a property too long); never sent.
 */
export type PublishFailureKind =
  'not-connected' | 'blocked' | 'backpressure' | 'timeout' | 'channel-closed' | 'nacked' | 'returned' | 'unpublishable';

/**
 * The failures that belong to the message itself, not to the broker's or the link's state: only these
 * count towards parking it (OUTBOX_MAX_ATTEMPTS). Every other kind says nothing about the message, so
 * an outage or an alarm of any length never parks anything.
 */
const MESSAGE_FAILURES: ReadonlySet<PublishFailureKind> = new Set(['nacked', 'returned', 'unpublishable']);

/** The failures decided before anything was written to the channel. */
const NEVER_SENT: ReadonlySet<PublishFailureKind> = new Set(['not-connected', 'blocked', 'backpressure', 'unpublishable']);

export class PublishFailedError extends Error {
  constructor(
    readonly kind: PublishFailureKind,
    readonly messageId: string,
    detail?: string,
  ) {
    super(`message ${messageId} not confirmed: ${kind}${detail ? ` (${detail})` : ''}`);
    this.name = 'PublishFailedError';
  }

  /** True when the failure is the message's own (see MESSAGE_FAILURES). */
  get belongsToMessage(): boolean {
    return MESSAGE_FAILURES.has(this.kind);
  }

  /** False when the message never left the client (so no confirm latency was measured). */
  get wasSent(): boolean {
    return !NEVER_SENT.has(this.kind);
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
