import type { Attributes } from '@opentelemetry/api';

/**
 * Attribute names of the OpenTelemetry messaging semantic conventions (v1.45, RabbitMQ), written out
 * here rather than imported from `@opentelemetry/semantic-conventions/incubating`, whose names may
 * change between minor versions (its own advice). Ours are under `reliable_messaging.`.
 */
export const ATTR = {
  system: 'messaging.system',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  destination: 'messaging.destination.name',
  routingKey: 'messaging.rabbitmq.destination.routing_key',
  deliveryTag: 'messaging.rabbitmq.message.delivery_tag',
  messageId: 'messaging.message.id',
  /** The semantic conventions' name for a correlation id. */
  conversationId: 'messaging.message.conversation_id',
  bodySize: 'messaging.message.body.size',
  /** published (confirmed) or pending (stored in the outbox), on a publish span. */
  publishStatus: 'reliable_messaging.publish.status',
  /** A publish span of the replay job (linked to the message's first publish). */
  replay: 'reliable_messaging.outbox.replay',
  /** The handler attempt a delivery is (1 for the first). */
  attempt: 'reliable_messaging.attempt',
  redelivered: 'reliable_messaging.redelivered',
  /** processed or duplicate (absorbed by the idempotency guard), on a process span that succeeded. */
  result: 'reliable_messaging.result',
} as const;

export const RABBITMQ = 'rabbitmq';

/** What a publish span says about the message. */
export function publishAttributes(
  message: { id: string; type: string; correlationId?: string; body: Buffer },
  exchange: string,
): Attributes {
  return {
    [ATTR.system]: RABBITMQ,
    [ATTR.operationType]: 'send',
    [ATTR.operationName]: 'publish',
    [ATTR.destination]: exchange,
    [ATTR.routingKey]: message.type,
    [ATTR.messageId]: message.id,
    [ATTR.conversationId]: message.correlationId,
    [ATTR.bodySize]: message.body.length,
  };
}
