import { MessagingHealthIndicator } from '@app/messaging';
import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';

/**
 * /health and /health/ready: 200 while the consumer can process (broker and Redis up, and an active
 * consumer on its queue), 503 otherwise: also while the broker has cancelled its consumer or closed
 * its channel (until it subscribed again by itself), and from the start of a stop.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: MessagingHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.indicator.processing()]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.check();
  }

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }
}
