import { z } from 'zod';
import { createEnvelope, InvalidEnvelopeError } from './message-envelope';
import { checkPayload, InvalidPayloadError } from './payload-schema';

const Order = z.object({
  orderId: z.string(),
  lines: z.array(z.object({ sku: z.string(), quantity: z.number().int().positive() })).default([]),
  note: z.string().optional(),
});

function reasonFor(payload: Record<string, unknown>): string {
  try {
    checkPayload(createEnvelope('order.created', payload, 'm-1'), Order);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect(error).toBeInstanceOf(InvalidEnvelopeError);
    return (error as InvalidPayloadError).reason;
  }
  throw new Error('the payload was accepted');
}

describe('checkPayload', () => {
  it('returns the envelope with the payload the schema gives (defaults applied), the rest unchanged', () => {
    const envelope = createEnvelope('order.created', { orderId: 'o-1' }, 'm-1');
    expect(checkPayload(envelope, Order)).toEqual({ ...envelope, payload: { orderId: 'o-1', lines: [] } });
  });

  it('names a field of the wrong type', () => {
    expect(reasonFor({ orderId: 42 })).toBe(
      'payload of order.created does not match its schema: orderId: Invalid input: expected string, received number',
    );
  });

  it('names a nested field by its path, array indices in brackets', () => {
    expect(
      reasonFor({
        orderId: 'o',
        lines: [
          { sku: 'a', quantity: 1 },
          { sku: 'b', quantity: 0 },
        ],
      }),
    ).toContain('lines[1].quantity: Too small');
  });

  it('names at most three fields, then says how many more', () => {
    const reason = reasonFor({ lines: [{}, {}] });
    expect(reason.match(/: Invalid input/g)).toHaveLength(3);
    expect(reason).toMatch(/; and 2 more$/);
  });

  it('names the payload as a whole for an issue without a path', () => {
    const Strict = z.object({}).refine(() => false, 'is not acceptable');
    expect(() => checkPayload(createEnvelope('t', {}, 'm'), Strict)).toThrow(
      'payload of t does not match its schema: (payload): is not acceptable',
    );
  });
});
