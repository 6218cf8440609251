import { RABBIT_PARAM_TYPE, RabbitSubscribe } from '@golevelup/nestjs-rabbitmq';
import { keyspaceOf, type SubscriptionDefinition } from '../config';
import { checkPayload, type MessageEnvelope, type PayloadSchema } from '../envelope';
import type { EffectMode } from '../idempotency';
import { Idempotent, parameterIndex } from './idempotent.decorator';

export interface SubscribeOptions {
  /** 'atomic' when the handler returns a RedisEffect holding its whole effect; 'exclusive' (default) otherwise. */
  mode?: EffectMode;
  /**
   * The payload the handler expects. A message whose payload fails it is poison: dead-lettered at once
   * to the subscription's DLQ, the reason naming each field, and the handler never sees it. The handler
   * gets the schema's output (its defaults and transforms applied).
   */
  payload?: PayloadSchema;
}

type Handler = (this: object, ...args: unknown[]) => unknown;

/**
 * Makes a method the handler of a subscription the module declares (`MessagingModule.forRoot({
 * subscriptions })`): golevelup's `@RabbitSubscribe` on the subscription's name, behind the
 * idempotency guard keyed in the subscription's namespace (`@Idempotent`), with the payload checked
 * first when a schema is given. The method takes the envelope as its `@RabbitPayload()` and may take
 * the delivery as its `@RabbitRequest()`. Pass the same definition object to the module and here.
 */
export const Subscribe =
  (subscription: SubscriptionDefinition, options: SubscribeOptions = {}): MethodDecorator =>
  (target, key, descriptor) => {
    Idempotent({ mode: options.mode, keyspace: keyspaceOf(subscription) })(target, key, descriptor);
    const { payload: schema } = options;
    if (schema) {
      const guarded = descriptor.value as unknown as Handler;
      const payload = parameterIndex(target, key, RABBIT_PARAM_TYPE);
      // Outside the guard: a poison payload takes no lock and leaves no mark.
      const checked = async function (this: object, ...args: unknown[]): Promise<unknown> {
        const typed = [...args];
        typed[payload] = checkPayload(args[payload] as MessageEnvelope, schema);
        return await guarded.apply(this, typed);
      };
      Object.defineProperty(checked, 'name', { value: guarded.name });
      for (const metaKey of Reflect.getMetadataKeys(guarded)) {
        Reflect.defineMetadata(metaKey, Reflect.getMetadata(metaKey, guarded), checked);
      }
      descriptor.value = checked as unknown as typeof descriptor.value;
    }
    RabbitSubscribe({ name: subscription.name })(target, key, descriptor);
    return descriptor;
  };
