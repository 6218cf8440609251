/** What publish() accepts beyond the envelope's own rules: MAX_PAYLOAD_DEPTH and the derived size limit. */
export interface WireLimits {
  /** Deepest nesting of objects and arrays in the payload; the payload object itself is level 1. */
  maxPayloadDepth: number;
  /** Largest encoded envelope, in bytes. */
  maxMessageBytes: number;
}

/** The limits of the default settings (MAX_PAYLOAD_DEPTH=64; RABBITMQ_MAX_MESSAGE_BYTES=16 MiB). */
export const DEFAULT_WIRE_LIMITS: WireLimits = { maxPayloadDepth: 64, maxMessageBytes: 16 * 1024 * 1024 };

/**
 * Why a payload cannot travel as JSON unchanged, or undefined when it can: nested deeper than
 * `maxDepth` (JSON.stringify recurses, and overflows the stack at a few thousand levels), or holding a
 * number JSON has no spelling for (NaN, ±Infinity: a body's 1e400 parses to Infinity, which
 * JSON.stringify would silently turn into null). Walks with its own stack, depth first, so neither a
 * deep nor a cyclic payload can overflow it (a cycle reads as too deep).
 */
export function payloadProblem(payload: object, maxDepth: number): string | undefined {
  const pending: object[] = [payload];
  const depths: number[] = [1];
  while (pending.length > 0) {
    const value = pending.pop()!;
    const depth = depths.pop()!;
    if (depth > maxDepth) return `payload is nested deeper than ${maxDepth} levels (objects and arrays; the payload itself is level 1)`;
    const children: unknown[] = Array.isArray(value) ? value : Object.values(value);
    for (const child of children) {
      if (typeof child === 'number') {
        if (!Number.isFinite(child))
          return 'payload holds a number JSON cannot carry (NaN or ±Infinity; a literal like 1e400 overflows to Infinity)';
      } else if (typeof child === 'object' && child !== null) {
        pending.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return undefined;
}
