import { RABBIT_HANDLER, RabbitPayload, RabbitRequest, RabbitSubscribe } from '@golevelup/nestjs-rabbitmq';
import { Logger } from '@nestjs/common';
import type { DiscoveryService } from '@nestjs/core';
import { MetadataScanner } from '@nestjs/core';
import type { ConsumeMessage } from 'amqplib';
import { loadMessagingSettings } from '../config';
import { createEnvelope, type MessageEnvelope } from '../envelope';
import type { EffectMode, IdempotencyGuard } from '../idempotency';
import { RedisEffect } from '../idempotency/redis-effect';
import { MessagingMetrics } from '../metrics';
import { IdempotencyGuards } from './idempotency-guards';
import { IdempotentHandling } from './idempotent-handling';
import { IDEMPOTENT_MODE, Idempotent } from './idempotent.decorator';
import { InFlightDeliveries } from './in-flight-deliveries';

class Handlers {
  readonly seen: unknown[] = [];

  @RabbitSubscribe({ name: 'consumer-a' })
  @Idempotent({ mode: 'atomic' })
  // eslint-disable-next-line @typescript-eslint/require-await
  async atomic(@RabbitRequest() delivery: ConsumeMessage, @RabbitPayload() message: MessageEnvelope): Promise<RedisEffect> {
    this.seen.push(delivery, message);
    return RedisEffect.of(['XADD', 's', '*', 'id', message.id]);
  }

  @Idempotent()
  @RabbitSubscribe({ name: 'consumer-b' })
  // eslint-disable-next-line @typescript-eslint/require-await
  async exclusive(@RabbitPayload() message: MessageEnvelope): Promise<void> {
    this.seen.push(message);
  }
}

interface GuardCall {
  id: string;
  mode: EffectMode;
  result: unknown;
}

function fakeGuard(outcome: 'processed' | 'duplicate', calls: GuardCall[]): IdempotencyGuard {
  return {
    run: async (id: string, mode: EffectMode, work: () => Promise<unknown>) => {
      calls.push({ id, mode, result: outcome === 'processed' ? await work() : undefined });
      return outcome;
    },
    // The atomic path: IdempotentHandling runs (and times) the handler, the guard commits its result.
    commitEffect: (id: string, result: unknown) => {
      calls.push({ id, mode: 'atomic', result });
      return Promise.resolve(outcome);
    },
  } as unknown as IdempotencyGuard;
}

function setUp(outcome: 'processed' | 'duplicate' = 'processed') {
  const calls: GuardCall[] = [];
  const metrics = new MessagingMetrics();
  const inFlight = new InFlightDeliveries();
  const handlers = new Handlers();
  const discovery = { getProviders: () => [{ instance: handlers }, { instance: undefined }], getControllers: () => [] };
  const handling = new IdempotentHandling(
    new IdempotencyGuards(fakeGuard(outcome, calls), [], () => fakeGuard(outcome, calls), 'p'),
    inFlight,
    metrics,
    discovery as unknown as DiscoveryService,
    new MetadataScanner(),
    loadMessagingSettings({}),
  );
  handling.onModuleInit();
  return { calls, metrics, inFlight, handlers };
}

describe('@Idempotent', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']));

  const delivery = { fields: {}, properties: { headers: {} } } as unknown as ConsumeMessage;

  it('runs the handler inside the guard, keyed by the id of its @RabbitPayload() parameter, in the declared mode', async () => {
    const { calls, handlers } = setUp();
    const message = createEnvelope('order.created', { n: 1 });
    await expect(handlers.atomic(delivery, message)).resolves.toBeUndefined();
    expect(handlers.seen).toEqual([delivery, message]);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ id: message.id, mode: 'atomic' });
    expect(calls[0].result).toBeInstanceOf(RedisEffect);
  });

  it("defaults to 'exclusive', and keeps golevelup's metadata whichever decorator comes first", async () => {
    const { calls, handlers } = setUp();
    const message = createEnvelope('order.created', {});
    await handlers.exclusive(message);
    expect(calls[0]).toMatchObject({ id: message.id, mode: 'exclusive' });
    for (const method of [Handlers.prototype.atomic, Handlers.prototype.exclusive]) {
      expect(Reflect.getMetadata(RABBIT_HANDLER, method)).toMatchObject({ type: 'subscribe' });
      expect(Reflect.getMetadata(IDEMPOTENT_MODE, method)).toBeDefined();
    }
  });

  it('does not run the handler for a duplicate, and counts each outcome', async () => {
    const processed = setUp('processed');
    await processed.handlers.exclusive(createEnvelope('t', {}));
    expect(await processed.metrics.registry.getSingleMetricAsString('messaging_consumed_total')).toContain('result="processed"} 1');

    const duplicate = setUp('duplicate');
    await duplicate.handlers.exclusive(createEnvelope('t', {}));
    expect(duplicate.handlers.seen).toEqual([]);
    expect(await duplicate.metrics.registry.getSingleMetricAsString('messaging_consumed_total')).toContain('result="duplicate"} 1');
  });

  it('counts the delivery as in flight until the guard is done', async () => {
    const { handlers, inFlight } = setUp();
    const running = handlers.exclusive(createEnvelope('t', {}));
    expect(inFlight.size).toBe(1);
    await running;
    expect(inFlight.size).toBe(0);
  });

  it('refuses a handler without a @RabbitPayload() parameter when the class is declared', () => {
    expect(() => {
      class NoPayload {
        @Idempotent()
        handle(): void {}
      }
      return NoPayload;
    }).toThrow(/NoPayload\.handle: the handler must take the message as a @RabbitPayload\(\) parameter/);
  });

  it('fails, rather than run unguarded, when the consumer side did not bind the instance', async () => {
    await expect(new Handlers().exclusive(createEnvelope('t', {}))).rejects.toThrow(
      /not bound: import MessagingModule with withConsumer: true/,
    );
  });
});
