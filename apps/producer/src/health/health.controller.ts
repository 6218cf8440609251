import { MessagingHealthIndicator } from '@app/messaging';
import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';

/** /health and /health/ready: 200 while messages can be accepted (broker or outbox), 503 otherwise. */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: MessagingHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.indicator.intake()]);
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
