import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import type { EffectMode } from '../idempotency';
import { IdempotencyInterceptor } from './idempotency.interceptor';

export const IDEMPOTENT_MODE = Symbol('IDEMPOTENT_MODE');

export interface IdempotentOptions {
  /** 'atomic' when the handler returns a RedisEffect holding its whole effect; 'exclusive' otherwise. */
  mode?: EffectMode;
}

/**
 * Puts a golevelup `@RabbitSubscribe` handler behind the idempotency guard: a message id whose work
 * is done is acknowledged without running the handler again, and failures go through the retry and
 * dead-letter policy. The handler receives the validated MessageEnvelope.
 */
export const Idempotent = (options: IdempotentOptions = {}) =>
  applyDecorators(SetMetadata(IDEMPOTENT_MODE, options.mode ?? 'exclusive'), UseInterceptors(IdempotencyInterceptor));
