import {
  attemptOf,
  DEFAULT_SUBSCRIPTION,
  MESSAGING_SETTINGS,
  RedisEffect,
  Subscribe,
  type MessageEnvelope,
  type MessagingSettings,
} from '@app/messaging';
import { RabbitPayload, RabbitRequest } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable } from '@nestjs/common';
import type { ConsumeMessage } from 'amqplib';
import { shouldSimulateFailure, SimulatedFailure } from './simulated-failure';

export const SIMULATED_FAILURES = Symbol('SIMULATED_FAILURES');

/**
 * The reference handler, on the default subscription (queue MESSAGING_QUEUE bound with `#`). Its effect is one entry in the `messaging:processed` stream (fields id and
 * type), returned as a RedisEffect so the guard writes it in the same script as the done mark: each
 * accepted message leaves exactly one entry however often it is delivered. golevelup acknowledges
 * the delivery only after that script succeeded.
 */
@Injectable()
export class ProcessedMessagesHandler {
  constructor(
    @Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings,
    @Inject(SIMULATED_FAILURES) private readonly simulatedFailures: boolean,
  ) {}

  @Subscribe(DEFAULT_SUBSCRIPTION, { mode: 'atomic' })
  // eslint-disable-next-line @typescript-eslint/require-await -- golevelup handlers are async by contract; this one has nothing to wait for
  async handle(@RabbitPayload() message: MessageEnvelope, @RabbitRequest() delivery: ConsumeMessage): Promise<RedisEffect> {
    const attempt = attemptOf(delivery);
    if (this.simulatedFailures && shouldSimulateFailure(message, attempt)) throw new SimulatedFailure(message.id, attempt);
    return RedisEffect.of(['XADD', this.settings.names.processedStream, '*', 'id', message.id, 'type', message.type]);
  }
}
