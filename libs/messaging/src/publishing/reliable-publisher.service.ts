import { Inject, Injectable, Logger } from '@nestjs/common';
import { logsInfo, type MessagingSettings } from '../config';
import type { MessageEnvelope, MessagePayload, WireLimits } from '../envelope';
// From the file, not the room's index: an index re-export is a getter call on every use, and these run per message.
import { encodeNewMessage, toWireMessage, type NewWireMessage, type WireMessage } from '../envelope/wire-message';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { MessagingMetrics } from '../metrics';
import { OutboxStore } from '../outbox';
import { tracePublish } from '../spans';
import { ConfirmedPublisher } from './confirmed-publisher';
import { MessageNotAcceptedError, PublishFailedError } from './publish-errors';

export type PublishStatus = 'published' | 'pending';

export interface PublishOptions {
  correlationId?: string;
}

/** Label sets of the hot path's metrics, made once rather than per message (never changed). */
const CONFIRMED = { outcome: 'confirmed' } as const;
const FAILED = { outcome: 'failed' } as const;
const PENDING = { status: 'pending' } as const;

/**
 * The one way to send: a message is either confirmed by the broker ('published') or durably written
 * to the Redis outbox ('pending'), from which the replay job sends it until it is confirmed. When
 * neither is possible it throws MessageNotAcceptedError, so the caller can refuse the message.
 *
 * When the publisher is not ready (no channel, or the broker blocks the connection during a resource
 * alarm) the message goes straight to the outbox, without waiting for a confirm that cannot come.
 *
 * A send that timed out may still have reached the broker; the outbox copy then makes a duplicate
 * with the same id, which the consumer's idempotency guard absorbs. Duplicates, never losses. When
 * the broker's confirm does come late (as after a blocked connection is unblocked), the outbox copy
 * is removed, so most such duplicates are never sent.
 */
@Injectable()
export class ReliablePublisher {
  private readonly logger = new Logger(ReliablePublisher.name);
  /** The per-message 'message published' line is an info line: at LOG_LEVEL=warn its fields are not gathered. */
  private readonly infoEnabled: boolean;
  private readonly lateConfirmed: string[] = [];
  /** MAX_PAYLOAD_DEPTH and the size the broker and the confirm window take: checked before a channel is touched. */
  private readonly wireLimits: WireLimits;
  private readonly exchange: string;

  constructor(
    private readonly broker: ConfirmedPublisher,
    private readonly outbox: OutboxStore,
    private readonly metrics: MessagingMetrics,
    @Inject(MESSAGING_SETTINGS) settings: MessagingSettings,
  ) {
    this.infoEnabled = logsInfo(settings);
    broker.onLateConfirm((messageId) => this.forgetConfirmed(messageId));
    this.wireLimits = settings.publishing;
    this.exchange = settings.names.exchange;
  }

  /** Rejects with InvalidMessageError, nothing sent or stored, for a message that cannot be sent as it is. */
  publish(envelope: MessageEnvelope, options: PublishOptions = {}): Promise<PublishStatus> {
    let message: WireMessage;
    try {
      message = toWireMessage(envelope, options.correlationId, this.wireLimits);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    // Not an async function: one promise and one turn less per message than awaiting publishWire in one.
    return this.publishWire(message, Date.parse(envelope.occurredAt));
  }

  /**
   * Publishes a new message, made here with the given id and the current time: `publish(createEnvelope(type,
   * payload, id))` in one step (encodeNewMessage), for a sender that makes one message per request.
   * Rejects with InvalidMessageError, nothing sent or stored, as publish does.
   */
  publishNew(type: string, payload: MessagePayload, id: string, options: PublishOptions = {}): Promise<PublishStatus> {
    let encoded: NewWireMessage;
    try {
      encoded = encodeNewMessage(type, payload, id, options.correlationId, this.wireLimits);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.publishWire(encoded.message, encoded.occurredAtMs);
  }

  /**
   * The broker confirmed a message after its publish timed out: its outbox copy (if it was stored) may
   * go. Batched per tick, as late confirms come in bursts when a blocked connection is unblocked. A
   * failed removal only leaves a copy that is replayed later: a duplicate, never a loss.
   */
  private forgetConfirmed(messageId: string): void {
    this.lateConfirmed.push(messageId);
    if (this.lateConfirmed.length > 1) return;
    setImmediate(() => {
      const ids = this.lateConfirmed.splice(0);
      this.outbox
        .remove(ids)
        .catch((error: Error) => this.logger.warn(`could not remove ${ids.length} late-confirmed outbox copies: ${error.message}`));
    });
  }

  /** Sends in a publish span (tracing/ — a no-op while tracing is off), whose context travels with the message. */
  publishWire(message: WireMessage, occurredAtMs?: number): Promise<PublishStatus> {
    return tracePublish(message, this.exchange, (traced) => this.send(traced, occurredAtMs));
  }

  private async send(message: WireMessage, occurredAtMs?: number): Promise<PublishStatus> {
    // Not ready (no channel, or blocked by a resource alarm) is refused at once, without a send.
    let brokerError: string;
    const started = performance.now();
    try {
      await this.broker.publish(message, occurredAtMs);
      this.metrics.confirmLatency.observe(CONFIRMED, (performance.now() - started) / 1000);
      this.metrics.countPublished();
      if (this.infoEnabled) {
        this.logger.log(
          { messageId: message.id, correlationId: message.correlationId, type: message.type, status: 'published' },
          'message published',
        );
      }
      return 'published';
    } catch (error) {
      if (!(error instanceof PublishFailedError) || error.wasSent) {
        this.metrics.confirmLatency.observe(FAILED, (performance.now() - started) / 1000);
      }
      brokerError = (error as Error).message;
    }
    try {
      await this.outbox.store(message, brokerError);
    } catch (error) {
      this.metrics.refused.inc();
      this.logger.error(
        { messageId: message.id, correlationId: message.correlationId, brokerError, outboxError: (error as Error).message },
        'message refused: neither broker nor outbox took it',
      );
      throw new MessageNotAcceptedError(message.id, brokerError, (error as Error).message);
    }
    this.metrics.accepted.inc(PENDING);
    this.logger.warn(
      { messageId: message.id, correlationId: message.correlationId, type: message.type, status: 'pending', brokerError },
      'message stored in the outbox for replay',
    );
    return 'pending';
  }
}
