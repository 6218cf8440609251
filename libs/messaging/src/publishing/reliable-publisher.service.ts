import { Inject, Injectable, Logger } from '@nestjs/common';
import { logsInfo, type MessagingSettings } from '../config';
import { toWireMessage, type MessageEnvelope, type WireLimits, type WireMessage } from '../envelope';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { MessagingMetrics } from '../metrics';
import { OutboxStore } from '../outbox';
import { ConfirmedPublisher } from './confirmed-publisher';
import { MessageNotAcceptedError } from './publish-errors';

export type PublishStatus = 'published' | 'pending';

export interface PublishOptions {
  correlationId?: string;
}

/** Label sets of the hot path's metrics, made once rather than per message (never changed). */
const CONFIRMED = { outcome: 'confirmed' } as const;
const FAILED = { outcome: 'failed' } as const;
const PUBLISHED = { status: 'published' } as const;
const PENDING = { status: 'pending' } as const;

/**
 * The one way to send: a message is either confirmed by the broker ('published') or durably written
 * to the Redis outbox ('pending'), from which the replay job sends it until it is confirmed. When
 * neither is possible it throws MessageNotAcceptedError, so the caller can refuse the message.
 *
 * A send that timed out may still have reached the broker; the outbox copy then makes a duplicate
 * with the same id, which the consumer's idempotency guard absorbs. Duplicates, never losses.
 */
@Injectable()
export class ReliablePublisher {
  private readonly logger = new Logger(ReliablePublisher.name);
  /** The per-message 'message published' line is an info line: at LOG_LEVEL=warn its fields are not gathered. */
  private readonly infoEnabled: boolean;
  /** MAX_PAYLOAD_DEPTH and the size the broker and the confirm window take: checked before a channel is touched. */
  private readonly wireLimits: WireLimits;

  constructor(
    private readonly broker: ConfirmedPublisher,
    private readonly outbox: OutboxStore,
    private readonly metrics: MessagingMetrics,
    @Inject(MESSAGING_SETTINGS) settings: MessagingSettings,
  ) {
    this.infoEnabled = logsInfo(settings);
    this.wireLimits = settings.publishing;
  }

  /** Rejects with InvalidMessageError, nothing sent or stored, for a message that cannot be sent as it is. */
  async publish(envelope: MessageEnvelope, options: PublishOptions = {}): Promise<PublishStatus> {
    return this.publishWire(toWireMessage(envelope, options.correlationId, this.wireLimits), Date.parse(envelope.occurredAt));
  }

  async publishWire(message: WireMessage, occurredAtMs?: number): Promise<PublishStatus> {
    let brokerError = 'broker not connected';
    if (this.broker.isReady()) {
      const started = performance.now();
      try {
        await this.broker.publish(message, occurredAtMs);
        this.metrics.confirmLatency.observe(CONFIRMED, (performance.now() - started) / 1000);
        this.metrics.accepted.inc(PUBLISHED);
        if (this.infoEnabled) {
          this.logger.log(
            { messageId: message.id, correlationId: message.correlationId, type: message.type, status: 'published' },
            'message published',
          );
        }
        return 'published';
      } catch (error) {
        this.metrics.confirmLatency.observe(FAILED, (performance.now() - started) / 1000);
        brokerError = (error as Error).message;
      }
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
