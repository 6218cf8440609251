import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Optional } from '@nestjs/common';
import type Redis from 'ioredis';
import { MESSAGING_REDIS } from '../messaging.constants';
import { ConfirmedPublisher } from '../publishing/confirmed-publisher';

export interface DependencyState {
  up: boolean;
  detail?: string;
}

/** Looks at the two dependencies without side effects: the broker connection and a Redis PING. */
@Injectable()
export class DependencyProbe {
  constructor(
    private readonly amqp: AmqpConnection,
    @Inject(MESSAGING_REDIS) private readonly redis: Redis,
    @Optional() private readonly publisher?: ConfirmedPublisher,
  ) {}

  /** In a publishing app the broker counts as up only once its confirm channel is open. */
  broker(): DependencyState {
    if (!this.amqp.managedConnection?.isConnected()) return { up: false, detail: 'not connected' };
    if (this.publisher && !this.publisher.isReady()) return { up: false, detail: 'publisher channel not open' };
    return { up: true };
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
