import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { DependencyProbe } from './dependency-probe';
import { MessagingHealthIndicator } from './messaging.health';

@Module({
  imports: [TerminusModule],
  providers: [DependencyProbe, MessagingHealthIndicator],
  exports: [TerminusModule, MessagingHealthIndicator],
})
export class MessagingHealthModule {}
