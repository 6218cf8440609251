import { RabbitPayload } from '@golevelup/nestjs-rabbitmq';
import { MetadataScanner, type DiscoveryService } from '@nestjs/core';
import { DEFAULT_SUBSCRIPTION, loadMessagingSettings, resolveSubscriptions } from '../config';
import type { MessageEnvelope } from '../envelope';
import { Subscribe } from './subscribe.decorator';
import { SubscriptionHandlersCheck } from './subscription-handlers-check';

class Reference {
  @Subscribe(DEFAULT_SUBSCRIPTION)
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  async handle(@RabbitPayload() _message: MessageEnvelope): Promise<void> {}
}

class Stray {
  @Subscribe({ name: 'billing', queue: 'billing' })
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  async handle(@RabbitPayload() _message: MessageEnvelope): Promise<void> {}

  plain(): void {}
}

function check(instances: object[]): () => void {
  const discovery = { getProviders: () => instances.map((instance) => ({ instance })), getControllers: () => [] };
  const subscriptions = resolveSubscriptions(loadMessagingSettings({}));
  const subject = new SubscriptionHandlersCheck(discovery as unknown as DiscoveryService, new MetadataScanner(), subscriptions);
  return () => subject.onModuleInit();
}

describe('SubscriptionHandlersCheck', () => {
  it('accepts handlers of declared subscriptions, and providers without handlers', () => {
    expect(check([new Reference(), {}])).not.toThrow();
  });

  it('stops the start for a handler of a subscription the module does not declare, naming it', () => {
    expect(check([new Reference(), new Stray()])).toThrow(
      'Stray.handle handles subscription billing, which MessagingModule does not declare (declared: messaging-consumer)',
    );
  });
});
