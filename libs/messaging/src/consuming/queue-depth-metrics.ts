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
  private lastRead?: { at: number; pending: boolean; depths: Promise<QueueDepth[]> };

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
   * declare per queue a second, not per scrape, on the connection the consumer consumes on. A read
   * still unanswered is shared whatever its age: a connection the broker blocks (a memory alarm) or a
   * stalled link leaves its channel open pending, and one per scrape would pile up until the
   * connection ran out of channel numbers (the scrape itself gives up after QUEUE_READ_TIMEOUT_MS).
   */
  private depths(): Promise<QueueDepth[]> {
    const now = Date.now();
    const last = this.lastRead;
    if (last && (last.pending || now - last.at < DEPTHS_MAX_AGE_MS)) return last.depths;
    const read = { at: now, pending: true, depths: this.readDepths() };
    read.depths.then(
      () => (read.pending = false),
      () => (read.pending = false),
    );
    this.lastRead = read;
    return read.depths;
  }

  private async readDepths(): Promise<QueueDepth[]> {
    const states = await readQueueStates(this.amqp.managedConnection?.connection, this.queues, (error) =>
      this.logger.debug({ error: error.message }, 'queue depth channel closed by the broker'),
    );
    return states.flatMap((state) => ('messages' in state ? [{ queue: state.name, role: state.role, messages: state.messages }] : []));
  }
}
