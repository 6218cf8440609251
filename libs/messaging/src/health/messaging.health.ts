import { Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { DependencyProbe, type DependencyState } from './dependency-probe';

const describe = (state: DependencyState) => (state.up ? 'up' : `down: ${state.detail}`);

/**
 * Terminus indicators for the two roles.
 * - intake (producer): accepting needs the broker OR the outbox; one of them down is `degraded`
 *   (still 200: messages go to the outbox, or straight to the broker), both down is `down` (503).
 * - processing (consumer): consuming needs the broker AND Redis AND an active consumer on every
 *   subscription (none while the broker has cancelled it or closed its channel, or while stopping).
 */
@Injectable()
export class MessagingHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly probe: DependencyProbe,
  ) {}

  async intake(): Promise<HealthIndicatorResult> {
    const session = this.health.check('intake');
    const broker = this.probe.broker();
    const redis = await this.probe.redisState();
    const details = { broker: describe(broker), outbox: describe(redis) };
    if (broker.up && redis.up) return session.up(details);
    if (broker.up || redis.up) return session.degraded(details);
    return session.down(details);
  }

  async processing(): Promise<HealthIndicatorResult> {
    const session = this.health.check('processing');
    const broker = this.probe.broker();
    const redis = await this.probe.redisState();
    const consumers = this.probe.consumers() ?? { up: true };
    const details = { broker: describe(broker), redis: describe(redis), consumers: describe(consumers) };
    return broker.up && redis.up && consumers.up ? session.up(details) : session.down(details);
  }
}
