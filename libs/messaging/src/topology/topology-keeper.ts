import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ChannelModel } from 'amqplib';
import type { MessagingSettings } from '../config';
import { MESSAGING_SETTINGS } from '../messaging.constants';
import { assertTopology, buildTopology, type Topology } from './topology';

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
      const channel = await connection.createChannel();
      // Without a listener amqplib throws a broker-closed channel's error into its frame loop and
      // drops the whole connection, consuming channel and all.
      channel.on('error', () => undefined);
      try {
        await assertTopology(channel, this.topology);
      } finally {
        await channel.close().catch(() => undefined);
      }
      this.logger.warn({ reason }, 'topology declared again');
      return true;
    } catch (error) {
      this.logger.error({ reason, error: (error as Error).message }, 'could not declare the topology again');
      return false;
    }
  }
}
