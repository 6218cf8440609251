import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Optional } from '@nestjs/common';
import type Redis from 'ioredis';
import { SubscriptionSupervisor } from '../consuming/subscription-supervisor';
import { MESSAGING_REDIS } from '../messaging.constants';
import { ConfirmedPublisher } from '../publishing/confirmed-publisher';

export interface DependencyState {
  up: boolean;
  detail?: string;
}

/** Looks at the dependencies without side effects: the broker connection, a Redis PING, the consumers. */
@Injectable()
export class DependencyProbe {
  constructor(
    private readonly amqp: AmqpConnection,
    @Inject(MESSAGING_REDIS) private readonly redis: Redis,
    @Optional() private readonly publisher?: ConfirmedPublisher,
    @Optional() private readonly subscriptions?: SubscriptionSupervisor,
  ) {}

  /**
   * In a publishing app the broker counts as up only once its publisher is ready (its confirm channel
   * open, the connection not blocked by the broker...), and the detail says why not.
   */
  broker(): DependencyState {
    if (!this.amqp.managedConnection?.isConnected()) return { up: false, detail: 'not connected' };
    const notReady = this.publisher?.notReadyReason();
    if (notReady !== undefined) return { up: false, detail: notReady };
    return { up: true };
  }

  /** In a consuming app: up while every subscription has an active consumer on the broker. */
  consumers(): DependencyState | undefined {
    return this.subscriptions?.state();
  }

  async redisState(): Promise<DependencyState> {
    if (this.redis.status !== 'ready') return { up: false, detail: `connection ${this.redis.status}` };
    try {
      await this.redis.ping();
      return { up: true };
    } catch (error) {
      return { up: false, detail: (error as Error).message };
    }
  }
}
