import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { MESSAGING_REDIS } from '../messaging.constants';

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
  ) {}

  broker(): DependencyState {
    return this.amqp.managedConnection?.isConnected() ? { up: true } : { up: false, detail: 'not connected' };
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
