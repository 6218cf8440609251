import { RABBIT_HANDLER, RabbitPayload } from '@golevelup/nestjs-rabbitmq';
import { z } from 'zod';
import { DEFAULT_SUBSCRIPTION, type SubscriptionDefinition } from '../config';
import { createEnvelope, InvalidPayloadError, type MessageEnvelope } from '../envelope';
import { IDEMPOTENT_HANDLING, IDEMPOTENT_MODE, type GuardedRun } from './idempotent.decorator';
import { Subscribe } from './subscribe.decorator';

const AUDIT: SubscriptionDefinition = { name: 'audit', queue: 'audit.consumer', bindings: ['order.*'] };
const Order = z.object({ orderId: z.string(), priority: z.number().default(0) });

class Handlers {
  readonly seen: unknown[] = [];

  @Subscribe(DEFAULT_SUBSCRIPTION, { mode: 'atomic' })
  // eslint-disable-next-line @typescript-eslint/require-await
  async everything(@RabbitPayload() message: MessageEnvelope): Promise<void> {
    this.seen.push(message);
  }

  @Subscribe(AUDIT, { payload: Order })
  // eslint-disable-next-line @typescript-eslint/require-await
  async orders(@RabbitPayload() message: MessageEnvelope<z.output<typeof Order>>): Promise<void> {
    this.seen.push(message.payload);
  }
}

interface Run {
  id: string;
  mode: string;
  keyspace: string | undefined;
}

function bound(): { handlers: Handlers; runs: Run[] } {
  const runs: Run[] = [];
  const handling: GuardedRun = {
    run: async (envelope, _delivery, mode, work, keyspace) => {
      runs.push({ id: envelope.id, mode, keyspace });
      await work();
    },
  };
  const handlers = new Handlers();
  Object.defineProperty(handlers, IDEMPOTENT_HANDLING, { value: handling });
  return { handlers, runs };
}

/** What golevelup hands the handler: the envelope as it came off the wire, its payload not yet checked. */
function deliverOrder(handlers: Handlers, payload: Record<string, unknown>, id: string): Promise<void> {
  return (handlers.orders as (message: MessageEnvelope) => Promise<void>).call(handlers, createEnvelope('order.created', payload, id));
}

describe('@Subscribe', () => {
  it("subscribes the method to the subscription's name, behind the guard", () => {
    for (const [method, name, mode] of [
      ['everything', 'messaging-consumer', 'atomic'],
      ['orders', 'audit', 'exclusive'],
    ] as const) {
      const handler = Handlers.prototype[method];
      expect(Reflect.getMetadata(RABBIT_HANDLER, handler)).toEqual({ type: 'subscribe', name });
      expect(Reflect.getMetadata(IDEMPOTENT_MODE, handler)).toBe(mode);
    }
  });

  it("keys the default subscription as before and every other one in its queue's namespace", async () => {
    const { handlers, runs } = bound();
    await handlers.everything(createEnvelope('shipment.sent', {}, 'm-1'));
    await deliverOrder(handlers, { orderId: 'o-1' }, 'm-2');
    expect(runs).toEqual([
      { id: 'm-1', mode: 'atomic', keyspace: undefined },
      { id: 'm-2', mode: 'exclusive', keyspace: 'audit.consumer' },
    ]);
  });

  it("hands the handler the schema's output", async () => {
    const { handlers } = bound();
    await deliverOrder(handlers, { orderId: 'o-1' }, 'm-2');
    expect(handlers.seen).toEqual([{ orderId: 'o-1', priority: 0 }]);
  });

  it('refuses a payload that fails the schema before the guard runs, naming the field', async () => {
    const { handlers, runs } = bound();
    const poison = deliverOrder(handlers, { orderId: 7 }, 'm-3');
    await expect(poison).rejects.toThrow(InvalidPayloadError);
    await expect(poison).rejects.toThrow('orderId: Invalid input: expected string, received number');
    expect(runs).toEqual([]);
    expect(handlers.seen).toEqual([]);
  });
});
