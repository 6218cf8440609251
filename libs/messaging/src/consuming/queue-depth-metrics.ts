import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { MessagingSettings } from '../config';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { MessagingMetrics, type QueueDepth } from '../metrics';
import { SharedQueueStates, topologyQueues, type TopologyQueue } from '../topology';

/** How long one read of the queues' depths answers the scrapes that follow it. */
export const DEPTHS_MAX_AGE_MS = 1000;

/**
 * Gives `messaging_queue_messages` its reader on the consuming side: at each scrape, the depth of
 * every subscription's work queue and dead-letter queue and of the retry delay queues, from the broker.
 * Letters the broker dead-letters by itself (a delivery limit reached) pass no code of ours; the DLQ's
 * depth is how the DeadLettersGrowing alert sees them.
 */
@Injectable()
export class QueueDepthMetrics implements OnModuleInit {
  private readonly logger = new Logger(QueueDepthMetrics.name);
  private readonly queues: TopologyQueue[];
  private readonly reads: SharedQueueStates;
  private lastRead?: { at: number; depths: Promise<QueueDepth[]> };

  constructor(
    amqp: AmqpConnection,
    private readonly metrics: MessagingMetrics,
    @Inject(MESSAGING_SETTINGS) settings: MessagingSettings,
  ) {
    this.queues = topologyQueues(settings);
    // No timeout of its own: the scrape gives up on the depths after QUEUE_READ_TIMEOUT_MS (MessagingMetrics).
    this.reads = new SharedQueueStates(
      () => amqp.managedConnection?.connection,
      (error) => this.logger.debug({ error: error.message }, 'queue depth channel closed by the broker'),
    );
  }

  onModuleInit(): void {
    this.metrics.readQueueMessagesFrom(() => this.depths());
  }

  /**
   * The depths of one broker read, shared by the scrapes within DEPTHS_MAX_AGE_MS of it: a client
   * polling /metrics many times a second (a dashboard, a test) costs one channel and one passive
   * declare per queue a second, not per scrape, on the connection the consumer consumes on. A read
   * still unanswered (a blocked connection, a stalled link) is shared whatever its age (SharedQueueStates).
   */
  private depths(): Promise<QueueDepth[]> {
    const now = Date.now();
    if (this.lastRead && now - this.lastRead.at < DEPTHS_MAX_AGE_MS) return this.lastRead.depths;
    const depths = this.reads
      .read(this.queues)
      .then((states) =>
        states.flatMap((state) => ('messages' in state ? [{ queue: state.name, role: state.role, messages: state.messages }] : [])),
      );
    this.lastRead = { at: now, depths };
    return depths;
  }
}
