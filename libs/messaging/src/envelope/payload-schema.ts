import type { z } from 'zod';
import { InvalidEnvelopeError, type MessageEnvelope, type MessagePayload } from './message-envelope';

/** Issues named in a reason; a payload wrong everywhere does not make a header of unbounded length. */
const ISSUES_IN_REASON = 3;

/** A schema a handler declares for the payload it expects (any zod schema whose output is an object). */
export type PayloadSchema<P extends MessagePayload = MessagePayload> = z.ZodType<P>;

/**
 * A payload that is not what its handler declared: poison, like an invalid envelope (the failure
 * router dead-letters it at once). The reason names each field that failed and why.
 */
export class InvalidPayloadError extends InvalidEnvelopeError {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidPayloadError';
  }
}

/**
 * The envelope with its payload parsed by the schema (so defaults and transforms of the schema apply),
 * or InvalidPayloadError: `payload of <type> does not match its schema: customer.id: expected string, received number`.
 */
export function checkPayload<P extends MessagePayload>(envelope: MessageEnvelope, schema: PayloadSchema<P>): MessageEnvelope<P> {
  const result = schema.safeParse(envelope.payload);
  if (result.success) return { ...envelope, payload: result.data };
  const issues = result.error.issues;
  const named = issues.slice(0, ISSUES_IN_REASON).map((issue) => `${fieldOf(issue.path)}: ${issue.message}`);
  if (issues.length > ISSUES_IN_REASON) named.push(`and ${issues.length - ISSUES_IN_REASON} more`);
  throw new InvalidPayloadError(`payload of ${envelope.type} does not match its schema: ${named.join('; ')}`);
}

/** `customer.lines[2].sku`; `(payload)` for an issue of the payload as a whole. */
function fieldOf(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(payload)';
  return path.reduce<string>((field, part) => {
    if (typeof part === 'number') return `${field}[${part}]`;
    return field === '' ? String(part) : `${field}.${String(part)}`;
  }, '');
}
