import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { MessagingSettings } from '../config';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { MessagingMetrics, type QueueDepth } from '../metrics';
import { readQueueStates, topologyQueues, type TopologyQueue } from '../topology';

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
  private lastRead?: { at: number; depths: Promise<QueueDepth[]> };

  constructor(
    private readonly amqp: AmqpConnection,
    private readonly metrics: MessagingMetrics,
    @Inject(MESSAGING_SETTINGS) settings: MessagingSettings,
  ) {
    this.queues = topologyQueues(settings);
  }

  onModuleInit(): void {
    this.metrics.readQueueMessagesFrom(() => this.depths());
  }

  /**
   * The depths of one broker read, shared by the scrapes within DEPTHS_MAX_AGE_MS of it: a client
   * polling /metrics many times a second (a dashboard, a test) costs one channel and one passive
   * declare per queue a second, not per scrape, on the connection the consumer consumes on.
   */
  private depths(): Promise<QueueDepth[]> {
    const now = Date.now();
    if (!this.lastRead || now - this.lastRead.at >= DEPTHS_MAX_AGE_MS) this.lastRead = { at: now, depths: this.readDepths() };
    return this.lastRead.depths;
  }

  private async readDepths(): Promise<QueueDepth[]> {
    const states = await readQueueStates(this.amqp.managedConnection?.connection, this.queues, (error) =>
      this.logger.debug({ error: error.message }, 'queue depth channel closed by the broker'),
    );
    return states.flatMap((state) => ('messages' in state ? [{ queue: state.name, role: state.role, messages: state.messages }] : []));
  }
}
