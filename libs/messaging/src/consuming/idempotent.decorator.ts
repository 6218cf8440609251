import { RABBIT_PARAM_TYPE, RABBIT_REQUEST_TYPE } from '@golevelup/nestjs-rabbitmq';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import type { ConsumeMessage } from 'amqplib';
import type { MessageEnvelope } from '../envelope';
import type { EffectMode } from '../idempotency';

export const IDEMPOTENT_MODE = Symbol('IDEMPOTENT_MODE');

/** Where IdempotentHandling puts itself on each instance that has @Idempotent handlers. */
export const IDEMPOTENT_HANDLING = Symbol('IdempotentHandling');

export interface IdempotentOptions {
  /** 'atomic' when the handler returns a RedisEffect holding its whole effect; 'exclusive' otherwise. */
  mode?: EffectMode;
  /** The guard's key namespace (SubscriptionSettings.keyspace); undefined: the default subscription's keys. */
  keyspace?: string;
}

/** What the guarded handler calls: IdempotentHandling.run (kept as an interface so this file imports no provider). */
export interface GuardedRun {
  run(
    envelope: MessageEnvelope,
    delivery: ConsumeMessage | undefined,
    mode: EffectMode,
    /** Runs the handler: its result, or a promise of it. */
    work: () => unknown,
    keyspace?: string,
  ): Promise<void>;
}

type Handler = (this: object, ...args: unknown[]) => unknown;
type HandlerHost = { [IDEMPOTENT_HANDLING]?: GuardedRun };

/** The index of the method's parameter golevelup fills with the whole of `type` (`@RabbitPayload()`, `@RabbitRequest()`), or -1. */
export function parameterIndex(target: object, key: string | symbol, type: number): number {
  const params = (Reflect.getMetadata(ROUTE_ARGS_METADATA, target.constructor, key) ?? {}) as Record<
    string,
    { index: number; data?: unknown }
  >;
  const found = Object.entries(params).find(([name, param]) => name.startsWith(`${type}:`) && param.data === undefined);
  return found ? found[1].index : -1;
}

/**
 * Puts a golevelup `@RabbitSubscribe` handler behind the idempotency guard: a message id whose work
 * is done is acknowledged without running the handler again, and failures go through the retry and
 * dead-letter policy. The handler takes the validated MessageEnvelope as its `@RabbitPayload()`; when
 * it also takes the delivery (`@RabbitRequest()`), the guard's log lines carry its attempt and
 * correlation id.
 *
 * The method is wrapped where it is declared, so the guard runs inside the handler's own call rather
 * than as a Nest interceptor: Nest's interceptor pipeline (an rxjs chain and two AsyncResource
 * bindings per call) was the largest cost per message after the Redis round trip. The guard comes
 * from IdempotentHandling, which the messaging module's consumer side sets on the handler's instance.
 */
export const Idempotent =
  (options: IdempotentOptions = {}): MethodDecorator =>
  (target, key, descriptor) => {
    const mode = options.mode ?? 'exclusive';
    const handler = descriptor.value as unknown as Handler;
    const where = `${target.constructor.name}.${String(key)}`;
    // Parameter decorators have run by now (they are applied before the method's own decorators).
    const payload = parameterIndex(target, key, RABBIT_PARAM_TYPE);
    const request = parameterIndex(target, key, RABBIT_REQUEST_TYPE);
    if (payload < 0)
      throw new Error(`@Idempotent() on ${where}: the handler must take the message as a @RabbitPayload() parameter (the whole envelope)`);
    // Not async itself: the promise of handling.run is the handler's (one frame less per delivery).
    const guarded = function (this: HandlerHost, ...args: unknown[]): Promise<void> {
      const handling = this[IDEMPOTENT_HANDLING];
      if (!handling)
        return Promise.reject(new Error(`@Idempotent() handler ${where} is not bound: import MessagingModule with withConsumer: true`));
      const delivery = request < 0 ? undefined : (args[request] as ConsumeMessage);
      return handling.run(args[payload] as MessageEnvelope, delivery, mode, () => handler.apply(this, args), options.keyspace);
    };
    Object.defineProperty(guarded, 'name', { value: handler.name });
    // Metadata other decorators put on the method (golevelup's @RabbitSubscribe among them) stays with it.
    for (const metaKey of Reflect.getMetadataKeys(handler)) {
      Reflect.defineMetadata(metaKey, Reflect.getMetadata(metaKey, handler), guarded);
    }
    Reflect.defineMetadata(IDEMPOTENT_MODE, mode, guarded);
    descriptor.value = guarded as unknown as typeof descriptor.value;
    return descriptor;
  };
