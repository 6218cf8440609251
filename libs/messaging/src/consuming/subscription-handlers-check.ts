import { RABBIT_HANDLER } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { SubscriptionSettings } from '../config';
import { MESSAGING_SUBSCRIPTIONS } from '../messaging.constants';
import { IDEMPOTENT_MODE } from './idempotent.decorator';

/**
 * Stops the start when a guarded handler (`@Subscribe`, or `@RabbitSubscribe` with `@Idempotent`)
 * names a subscription the module does not declare: golevelup would skip it without a word, and its
 * messages would wait in a queue nobody consumes. (A declared subscription without a handler keeps
 * readiness down instead, naming its queue: SubscriptionSupervisor.)
 */
@Injectable()
export class SubscriptionHandlersCheck implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    @Inject(MESSAGING_SUBSCRIPTIONS) private readonly subscriptions: SubscriptionSettings[],
  ) {}

  onModuleInit(): void {
    const declared = new Set(this.subscriptions.map((subscription) => subscription.name));
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      const instance = wrapper.instance as object | undefined;
      if (!instance || typeof instance !== 'object') continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const method of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[method] as object;
        if (Reflect.getMetadata(IDEMPOTENT_MODE, handler) === undefined) continue;
        const name = (Reflect.getMetadata(RABBIT_HANDLER, handler) as { name?: string } | undefined)?.name;
        if (name === undefined || !declared.has(name)) {
          throw new Error(
            `${instance.constructor.name}.${method} handles subscription ${name ?? '(no name)'}, which MessagingModule does not declare ` +
              `(declared: ${[...declared].join(', ') || 'none'}): add it to the module's subscriptions`,
          );
        }
      }
    }
  }
}
