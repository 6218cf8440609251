import { RabbitMQModule } from '@golevelup/nestjs-rabbitmq';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';

/**
 * golevelup registers its handlers in its onApplicationBootstrap and waits there until the broker has
 * accepted each subscription. While the broker is unreachable that wait never ends, Nest never gets
 * to listen, and the consumer's /health cannot say why. This lets the registration go on in the
 * background instead: the app starts, /health reports the broker down, and consuming begins as soon
 * as the connection is up (golevelup's channel setups run on every (re)connect).
 */
@Injectable()
export class BackgroundSubscription implements OnModuleInit {
  private readonly logger = new Logger(BackgroundSubscription.name);

  constructor(private readonly moduleRef: ModuleRef) {}

  onModuleInit(): void {
    const rabbit = this.moduleRef.get(RabbitMQModule, { strict: false });
    const register = rabbit.onApplicationBootstrap.bind(rabbit);
    rabbit.onApplicationBootstrap = () => {
      register().then(
        () => this.logger.log('message handlers subscribed'),
        (error: Error) => this.logger.error(`could not subscribe the message handlers: ${error.message}`),
      );
      return Promise.resolve();
    };
  }
}
