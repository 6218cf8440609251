import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ChannelModel } from 'amqplib';
import type { MessagingSettings } from '../config';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { buildTopology, type Topology } from './topology';
import { declareTopology } from './topology-declaration';

/** The broker connection to declare on, when there is one (bound by the consumer side at start). */
export type ConnectionSource = () => ChannelModel | undefined;

/**
 * Declares the topology again when something shows a part of it is missing: a copy returned as
 * unroutable (a delay queue or the DLQ deleted), a consumer cancelled by the broker (its queue
 * deleted). Declaring an existing object with equal arguments is a no-op, so this is safe to repeat.
 *
 * It declares on a channel of its own, never on the consuming channel: a declaration the broker
 * refuses (403 access refused, 406 inequivalent arguments) closes the channel it was made on, and
 * the consuming channel holds the deliveries in flight. Concurrent requests share one declaration.
 */
@Injectable()
export class TopologyKeeper {
  private readonly logger = new Logger(TopologyKeeper.name);
  private readonly topology: Topology;
  private connection: ConnectionSource = () => undefined;
  private running?: Promise<boolean>;

  constructor(@Inject(MESSAGING_SETTINGS) settings: MessagingSettings) {
    this.topology = buildTopology(settings);
  }

  bind(connection: ConnectionSource): void {
    this.connection = connection;
  }

  /** Resolves true once the whole topology is declared, false when it could not be (logged). */
  ensure(reason: string): Promise<boolean> {
    this.running ??= this.declare(reason).finally(() => (this.running = undefined));
    return this.running;
  }

  private async declare(reason: string): Promise<boolean> {
    const connection = this.connection();
    if (!connection) return false;
    try {
      const { failures, kept } = await declareTopology(connection, this.topology);
      if (kept.length > 0) this.logger.warn({ kept }, 'topology objects exist with other arguments: kept as they are');
      if (failures.length > 0) {
        this.logger.error({ reason, failures }, 'could not declare all of the topology again');
        return false;
      }
      this.logger.log({ reason }, 'topology declared');
      return true;
    } catch (error) {
      this.logger.error({ reason, error: (error as Error).message }, 'could not declare the topology again');
      return false;
    }
  }
}
