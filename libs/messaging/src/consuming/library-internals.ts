/**
 * The internals of golevelup 9 and amqp-connection-manager 5 that the SubscriptionSupervisor reaches
 * into (neither library exposes a consumer registry or a way to reopen one channel). Their shapes are
 * checked at start (see the supervisor's onModuleInit) and by its spec against the installed versions.
 */
import type { MessageHandlerOptions } from '@golevelup/nestjs-rabbitmq';
import type { Channel, ChannelModel } from 'amqplib';

export type Handler = (message: unknown, delivery?: unknown, headers?: unknown) => Promise<unknown>;

/** What golevelup 9 keeps per consumer (`registerConsumerForQueue`), and the internals used here. */
export interface GolevelupConsumer {
  type: string;
  consumerTag: string;
  msgOptions: MessageHandlerOptions;
  channel: Channel;
}
export interface GolevelupInternals {
  createSubscriber(handler: Handler, options: MessageHandlerOptions, name: string, consumeOptions?: unknown): Promise<unknown>;
  registerConsumerForQueue(consumer: GolevelupConsumer): void;
  unregisterConsumerForQueue(consumerTag: string): void;
}
/** amqp-connection-manager 5's ChannelWrapper: its current channel and the step that opens one. */
export interface WrapperInternals {
  _channel?: Channel;
  _settingUp?: Promise<void>;
  _onConnect(event: { connection: ChannelModel }): Promise<void>;
}
